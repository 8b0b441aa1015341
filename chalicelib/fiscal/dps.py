"""The DPS's XML, built with nfelib's bindings of the national layout (v1.01) and signed.

Built through the bindings rather than by hand so the element order, the namespaces and the
escaping are the schema's; what the bindings do not check (patterns, lengths) `text` and the
domain's formatters (`money`, `iss_percent`, `local_timestamp`) keep within the layout, and the
emitter checks the whole against the XSD.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from typing import Optional, Tuple

from nfelib.nfse.bindings.v1_0 import tipos_complexos_v1_01 as complex_types
from nfelib.nfse.bindings.v1_0 import tipos_simples_v1_01 as simple_types
from nfelib.nfse.bindings.v1_0.dps_v1_01 import Dps as DpsDocument

from ..domain import nfse as rules
from ..domain.nfse import Dps
from .signing import A1Certificate, sign

NFSE_NAMESPACE = "http://www.sped.fazenda.gov.br/nfse"
LAYOUT_VERSION = "1.01"
ISSUED_BY_PROVIDER = "1"  # tpEmit: the provider declares its own service


def text(value: Optional[str], limit: int, *, line_breaks: bool = False) -> Optional[str]:
    """`value` as the layout's strings accept it (TSString: Latin-1 only, no leading or trailing
    space, no line breaks unless the field allows them), cut to `limit` characters; None when
    nothing is left. A character beyond Latin-1 (an em dash, a curly quote, an emoji) becomes its
    plain form when it has one, else is dropped: the Sefin refuses the whole DPS for one."""
    if value is None:
        return None
    kept = []
    for char in str(value):
        if ord(char) <= 0xFF:
            kept.append(char)
            continue
        plain = _PLAIN.get(char)
        if plain is None:
            plain = "".join(c for c in unicodedata.normalize("NFKD", char) if ord(c) <= 0xFF
                            and not unicodedata.combining(c))
        kept.append(plain)
    cleaned = "".join(kept)
    if line_breaks:
        cleaned = "\n".join(" ".join(line.split()) for line in cleaned.splitlines())
        cleaned = re.sub(r"\n{3,}", "\n\n", cleaned)
    else:
        cleaned = " ".join(cleaned.split())
    # Control characters (other than the breaks allowed) are outside every TSString pattern.
    cleaned = "".join(c for c in cleaned if c == "\n" or ord(c) >= 0x20 and not 0x7F <= ord(c) < 0xA0)
    cleaned = cleaned[:limit].strip()
    return cleaned or None


_PLAIN = {"\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
          "\u2026": "...", "\u20ac": "EUR", "\u2022": "-"}


def _taker(dps: Dps) -> complex_types.TcinfoPessoa:
    taker = dps.taker
    address = None
    if taker.address is not None:
        a = taker.address
        address = complex_types.Tcendereco(
            endNac=complex_types.TcenderNac(cMun=a.city_code, CEP=a.cep),
            xLgr=text(a.street, 255), nro=text(a.number, 60) or "S/N", xCpl=text(a.complement, 156),
            xBairro=text(a.district, 60))
    return complex_types.TcinfoPessoa(CNPJ=taker.cnpj, xNome=text(taker.name, 300), end=address,
                                      email=text(taker.email, 80))


def _iss(dps: Dps) -> complex_types.TctribMunicipal:
    terms = dps.terms
    # pAliq only for a taxable operation with the rate withheld or fixed by the terms: the layout
    # leaves it out otherwise and the Sefin applies the municipality's rate.
    rate = rules.iss_percent(terms.iss_rate) if terms.iss_rate and terms.iss_taxation == "1" else None
    return complex_types.TctribMunicipal(
        tribISSQN=simple_types.TstribIssqn(terms.iss_taxation),
        tpRetISSQN=simple_types.TstipoRetIssqn(terms.iss_withholding), pAliq=rate)


def dps_document(dps: Dps) -> DpsDocument:
    """The DPS as the bindings' object (unsigned)."""
    provider, terms = dps.provider, dps.terms
    info = complex_types.TcinfDps(
        Id=dps.id,
        tpAmb=simple_types.TstipoAmbiente(dps.environment),
        dhEmi=rules.local_timestamp(dps.issued_at),
        verAplic=text(dps.application_version, 20),
        serie=dps.series,
        nDPS=str(dps.number),
        dCompet=dps.competence.isoformat(),
        tpEmit=simple_types.TsemitenteDps(ISSUED_BY_PROVIDER),
        cLocEmi=provider.city_code,
        prest=complex_types.TcinfoPrestador(
            CNPJ=provider.cnpj, IM=text(provider.municipal_registration, 15),
            # No name or address: when the provider itself emits, the Sefin takes them from its
            # registry (CNC) for the note.
            regTrib=complex_types.TcregTrib(opSimpNac=simple_types.TsopSimpNac(provider.simples_nacional),
                                            regEspTrib=simple_types.TsregEspTrib(provider.special_regime))),
        toma=_taker(dps),
        serv=complex_types.Tcserv(
            locPrest=complex_types.TclocPrest(cLocPrestacao=dps.service_city_code),
            cServ=complex_types.Tccserv(cTribNac=terms.national_code, cTribMun=terms.municipal_code,
                                        xDescServ=text(terms.description, 2000, line_breaks=True),
                                        cNBS=terms.nbs_code),
            infoCompl=(complex_types.TcinfoCompl(xInfComp=text(dps.notes, 2000))
                       if text(dps.notes, 2000) else None)),
        valores=complex_types.TcinfoValores(
            vServPrest=complex_types.TcvservPrest(vServ=rules.money(dps.amount_cents)),
            trib=complex_types.TcinfoTributacao(
                tribMun=_iss(dps),
                totTrib=complex_types.TctribTotal(
                    indTotTrib=simple_types.TstipoIndTotTrib(terms.total_taxes_indicator)))))
    return DpsDocument(infDPS=info, versao=LAYOUT_VERSION)


@functools.lru_cache(maxsize=1)
def _serializer():
    """One serializer per process: its context caches each binding class's metadata, which a new
    one builds again from the classes' type hints (most of a DPS's serialization time)."""
    from xsdata.formats.dataclass.context import XmlContext
    from xsdata.formats.dataclass.serializers import XmlSerializer
    from xsdata.formats.dataclass.serializers.config import SerializerConfig

    return XmlSerializer(context=XmlContext(), config=SerializerConfig(indent=None))


def serialize(document) -> str:
    """A bindings' document as XML, the layout's namespace as the default one, no indentation
    (what is signed is what is sent)."""
    return _serializer().render(document, ns_map={None: NFSE_NAMESPACE})


def dps_xml(dps: Dps) -> str:
    """The DPS's XML, unsigned."""
    return serialize(dps_document(dps))


def sign_dps(dps: Dps, certificate: A1Certificate) -> Tuple[str, str]:
    """(the DPS id, the signed DPS XML) ready for the emitter."""
    return dps.id, sign(dps_xml(dps), dps.id, certificate)
