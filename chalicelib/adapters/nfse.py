"""NFS-e (nota fiscal de serviço eletrônica) emission, behind an interface.

The product builds and signs the DPS (chalicelib/fiscal); an emitter sends it and answers the
NFS-e the national system generated, or the reasons it refused it. Cancellation is an event
(pedRegEvento with an e101101), built and signed the same way.

`SimulatedNfseEmitter` stands in for the Sefin Nacional locally, in the dev stage and in tests:
it refuses a DPS or an event that fails the XSD or whose signature does not verify, and answers an
NFS-e valid against NFSe_v1.01.xsd, so every test that emits a note proves the DPS valid.
`SefinNacionalEmitter` (adapters/sefin_nacional.py) is the real one.
"""
from __future__ import annotations

import functools
import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Dict, List, Optional, Protocol, Tuple

from ..domain.nfse import Rejection, Rejections


@dataclass(frozen=True)
class IssuedNfse:
    """The NFS-e the national system generated for a DPS."""

    number: str  # nNFSe
    verification_code: Optional[str]  # national notes have none (the access key names them): None
    issued_at: str  # dhProc, as the emitter stamped it
    xml: str  # the NFS-e document as the emitter answered it (signed by the emitter)
    access_key: str = ""  # chave de acesso, 50 digits: what queries and events name the note by


@dataclass(frozen=True)
class NfseCancellation:
    """The emitter's record of a cancellation event: its protocol and the event's XML."""

    number: str  # the access key of the note cancelled (national notes are named by it), in both emitters
    protocol: str
    registered_at: str
    xml: str


class NfseUnavailable(Exception):
    """A transient failure at the emitter (timeout, 5xx after retries): try again later."""


class NfseRejected(Exception):
    """The emitter refused the DPS for what it says (E-codes): sending it again will not help until
    the data changes. `rejections` carries each code and message as the emitter gave them."""

    def __init__(self, rejections: Rejections):
        super().__init__("; ".join(f"{r.code}: {r.message}" for r in rejections)[:500])
        self.rejections = rejections


class NfseCancellationRefused(Exception):
    """The emitter refused the event: `reason` is "unknown_note", "already_cancelled" or
    "rejected" (then `rejections` says why)."""

    def __init__(self, reason: str, rejections: Rejections = ()):
        super().__init__(reason)
        self.reason = reason
        self.rejections = rejections


# The national layout's cancellation reasons (cMotivo of the e101101 event).
CANCEL_ISSUE_ERROR = "1"  # erro na emissão: a corrected note replaces it
CANCEL_SERVICE_NOT_PROVIDED = "2"
CANCEL_OTHER = "9"


class NfseEmitter(Protocol):
    """The contract both emitters keep."""

    def emit(self, dps_id: str, signed_dps: str) -> IssuedNfse:
        """Sends the signed DPS and answers the NFS-e generated for it. Idempotent per dps_id: a
        DPS sent again (a retry after a timeout) answers the note already generated.
        Raises NfseRejected (E-codes) or NfseUnavailable."""
        ...

    def cancel(self, access_key: str, signed_event: str) -> NfseCancellation:
        """Registers the signed pedRegEvento (e101101). Raises NfseCancellationRefused or
        NfseUnavailable."""
        ...

    def note(self, access_key: str) -> Optional[str]:
        """The NFS-e's XML as the national system holds it, None when it knows no such note."""
        ...


# --- the simulator ---------------------------------------------------------------------------------

# The simulator's refusals. Its own codes (the Sefin's table words its checks differently); each
# names one check, so a test can tell which one refused.
SIMULATED_SCHEMA_FAILURE = "E9001"  # the document fails the layout's XSD
SIMULATED_SIGNATURE_FAILURE = "E9002"  # no signature, or one that does not verify
SIMULATED_CERTIFICATE_NOT_THE_AUTHORS = "E9003"  # signed with a certificate of another CNPJ
SIMULATED_ID_MISMATCH = "E9004"  # the id sent beside the document is not the document's

NFSE_NAMESPACE = "http://www.sped.fazenda.gov.br/nfse"
_NS = {"n": NFSE_NAMESPACE}
SIMULATED_SEFIN_CNPJ = "00394460000141"  # a made-up "Sefin Nacional" that signs the simulator's notes
SIMULATOR_VERSION = "SefinSimulada-1.01"

_NATIONAL_CODES = {"010501": "Licenciamento ou cessão de direito de uso de programas de computação."}


def _state_of(city_code: str) -> str:
    from ..domain.addresses import municipality

    known = municipality(city_code)
    return known[1] if known else "SP"


def municipality_name(city_code: str) -> str:
    """The município's name as IBGE spells it (the national system's xLocEmi, xLocPrestacao…)."""
    from ..domain.addresses import municipality

    known = municipality(city_code)
    return known[0] if known else f"Município IBGE {city_code}"


def access_key_check_digit(digits: str) -> str:
    """Módulo 11 with weights 2..9 from the right, as the fiscal documents' keys use it."""
    total = sum(int(d) * (2 + i % 8) for i, d in enumerate(reversed(digits)))
    rest = total % 11
    return "0" if rest < 2 else str(11 - rest)


def simulated_access_key(city_code: str, cnpj: str, number: int, processed_at: str, dps_id: str) -> str:
    """Município (7) + ambiente gerador (1: 2, the Sefin) + tipo de inscrição (1) + inscrição (14)
    + nº da NFS-e (13) + AAMM (4) + código numérico (9) + DV (1): 50 digits."""
    code = str(int(hashlib.sha256(dps_id.encode()).hexdigest(), 16) % 10 ** 9).zfill(9)
    body = f"{city_code}22{cnpj}{number:013d}{processed_at[2:4]}{processed_at[5:7]}{code}"
    return body + access_key_check_digit(body)


def _cents(value: Optional[str]) -> int:
    reais, _, centavos = (value or "0").partition(".")
    return int(reais) * 100 + int((centavos + "00")[:2])


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"




@functools.lru_cache(maxsize=1)
def simulated_sefin_certificate():
    """The simulator's "Sefin Nacional" certificate (self-signed, made once per process): it signs
    the notes and events the simulator answers, as the real Sefin signs its own."""
    from ..fiscal.signing import A1Certificate
    from .demo_certificate import demo_a1

    return A1Certificate.from_pkcs12(*demo_a1(SIMULATED_SEFIN_CNPJ, "SEFIN NACIONAL SIMULADA", valid_days=3650,
                                              organization="Sefin Nacional (simulada)"))


def simulated_note(dps, *, provider_cnpj: str, number: int, processed_at: str, access_key: str,
                   application_version: str = SIMULATOR_VERSION) -> str:
    """The NFS-e the Sefin would generate for a checked DPS (`dps`: its lxml root, as signed), valid
    against NFSe_v1.01.xsd and signed with `simulated_sefin_certificate`: the simulator's note, and
    the fake Sefin's in the adapter's tests (tests/fakes/sefin_nacional.py)."""
    import copy

    from cryptography.x509.oid import NameOID
    from lxml import etree

    from ..fiscal.signing import embedded_certificate, sign

    info = dps.find("n:infDPS", _NS)

    def read(path: str) -> Optional[str]:
        return info.findtext(path, namespaces=_NS)

    key = access_key
    city, service_city = read("n:cLocEmi"), read("n:serv/n:locPrest/n:cLocPrestacao")
    # xNome from the registry, which the simulator reads off the signer's e-CNPJ ("NAME:CNPJ").
    names = embedded_certificate(etree.tostring(dps)).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    provider_name = names[0].value.rsplit(":", 1)[0] if names else provider_cnpj

    root = etree.Element(f"{{{NFSE_NAMESPACE}}}NFSe", nsmap={None: NFSE_NAMESPACE}, versao="1.01")
    inf = etree.SubElement(root, f"{{{NFSE_NAMESPACE}}}infNFSe", Id=f"NFS{key}")

    def add(parent, tag: str, value: Optional[str]):
        if value is not None:
            etree.SubElement(parent, f"{{{NFSE_NAMESPACE}}}{tag}").text = value
        return parent

    add(inf, "xLocEmi", municipality_name(city))
    add(inf, "xLocPrestacao", municipality_name(service_city or city))
    add(inf, "nNFSe", str(number))
    add(inf, "cLocIncid", service_city or city)
    add(inf, "xLocIncid", municipality_name(service_city or city))
    national_code = read("n:serv/n:cServ/n:cTribNac")
    add(inf, "xTribNac", _NATIONAL_CODES.get(national_code, f"Código de tributação nacional {national_code}"))
    add(inf, "verAplic", application_version)
    add(inf, "ambGer", "2")  # the Sefin Nacional
    add(inf, "tpEmis", "1")
    add(inf, "procEmi", "1")  # sent by the taxpayer's application (web service)
    add(inf, "cStat", "100")  # NFS-e gerada
    add(inf, "dhProc", processed_at)
    add(inf, "nDFSe", str(number))
    emit = etree.SubElement(inf, f"{{{NFSE_NAMESPACE}}}emit")
    add(emit, "CNPJ", provider_cnpj)
    add(emit, "IM", read("n:prest/n:IM"))
    add(emit, "xNome", provider_name)
    address = etree.SubElement(emit, f"{{{NFSE_NAMESPACE}}}enderNac")
    # The simulator has no national registry (CNC): the address is a stand-in.
    for tag, value in (("xLgr", "Endereço do cadastro nacional (simulado)"), ("nro", "S/N"),
                       ("xBairro", "Centro"), ("cMun", city), ("UF", _state_of(city)),
                       ("CEP", "01001000")):
        add(address, tag, value)
    amount = _cents(read("n:valores/n:vServPrest/n:vServ"))
    rate = read("n:valores/n:trib/n:tribMun/n:pAliq")
    withheld = read("n:valores/n:trib/n:tribMun/n:tpRetISSQN") != "1"
    values = etree.SubElement(inf, f"{{{NFSE_NAMESPACE}}}valores")
    add(values, "vBC", _money(amount))
    iss = None
    if rate is not None:
        iss = (amount * _cents(rate) + 5000) // 10000  # half up, in centavos
        add(values, "pAliqAplic", rate)
        add(values, "vISSQN", _money(iss))
    if withheld and iss:
        add(values, "vTotalRet", _money(iss))
    add(values, "vLiq", _money(amount - (iss if withheld and iss else 0)))
    inf.append(copy.deepcopy(dps))  # the DPS as signed: its signature still verifies inside
    return sign(etree.tostring(root, encoding="unicode"), f"NFS{key}", simulated_sefin_certificate())


@dataclass(frozen=True)
class _Note:
    issued: IssuedNfse
    provider_cnpj: str


class SimulatedNfseEmitter:
    """A stand-in for the Sefin Nacional that checks what the real one checks first: the DPS (or
    the event) against the layout's XSD, its enveloped signature against the certificate it
    carries, and that certificate's CNPJ against the provider's (the event's author's). It
    numbers notes from `first_number`, answers the same note for a DPS sent again, and signs what
    it answers with its own certificate (`simulated_sefin_certificate`)."""

    def __init__(self, first_number: int = 1, clock: Optional[Callable[[], datetime]] = None):
        self._next = first_number
        self._issued: Dict[str, _Note] = {}  # by DPS id
        self._by_key: Dict[str, _Note] = {}  # by access key
        self._cancelled: Dict[str, NfseCancellation] = {}  # by access key
        self._lock = threading.Lock()
        self._clock = clock
        self._cancel_failures_left = 0
        self._emit_failures_left = 0
        self._rejections: Rejections = ()
        self._rejections_left = 0
        # Every DPS id and cancellation event received, refused ones too (tests count them). Each
        # event as read: access_key, author, reason_code, reason_text, requested_at, xml.
        self.emit_requests: List[str] = []
        self.cancel_requests: List[dict] = []

    # --- test hooks -----------------------------------------------------------------------------

    def fail_next_emit(self, count: int) -> None:
        """The next `count` DPSs fail as an outage would (NfseUnavailable)."""
        self._emit_failures_left = count

    def reject_next(self, rejections: Rejections, count: int = 1) -> None:
        """The next `count` DPSs are refused with `rejections` (NfseRejected), whatever they hold."""
        self._rejections, self._rejections_left = tuple(rejections), count

    def fail_next_cancel(self, count: int) -> None:
        """The next `count` cancellation events fail as an outage would."""
        self._cancel_failures_left = count

    def cancellation(self, access_key: str) -> Optional[NfseCancellation]:
        """The cancellation event recorded for a note, or None."""
        return self._cancelled.get(access_key)

    # --- the contract ---------------------------------------------------------------------------

    def note(self, access_key: str) -> Optional[str]:
        found = self._by_key.get(access_key)
        return found.issued.xml if found else None

    def emit(self, dps_id: str, signed_dps: str) -> IssuedNfse:
        with self._lock:
            self.emit_requests.append(dps_id)
            if self._emit_failures_left > 0:
                self._emit_failures_left -= 1
                raise NfseUnavailable("simulated NFS-e emitter outage")
            if self._rejections_left > 0:
                self._rejections_left -= 1
                raise NfseRejected(self._rejections)
            root, provider_cnpj = self._checked(signed_dps, "DPS", dps_id)
            if dps_id not in self._issued:
                note = _Note(self._generate(root, dps_id, provider_cnpj), provider_cnpj)
                self._next += 1
                self._issued[dps_id] = self._by_key[note.issued.access_key] = note
            return self._issued[dps_id].issued

    def cancel(self, access_key: str, signed_event: str) -> NfseCancellation:
        with self._lock:
            self.cancel_requests.append(_event_summary(signed_event))
            if self._cancel_failures_left > 0:
                self._cancel_failures_left -= 1
                raise NfseUnavailable("simulated NFS-e emitter outage")
            try:
                root, author = self._checked(signed_event, "pedRegEvento", access_key)
            except NfseRejected as refused:
                raise NfseCancellationRefused("rejected", refused.rejections) from refused
            note = self._by_key.get(access_key)
            if note is None:
                raise NfseCancellationRefused("unknown_note")
            if author != note.provider_cnpj:
                raise NfseCancellationRefused("rejected", (Rejection(
                    SIMULATED_CERTIFICATE_NOT_THE_AUTHORS, "O autor do evento não é o prestador da NFS-e."),))
            if access_key in self._cancelled:
                raise NfseCancellationRefused("already_cancelled")
            self._cancelled[access_key] = self._register(root, note, access_key)
            return self._cancelled[access_key]

    # --- checks ---------------------------------------------------------------------------------

    def _checked(self, xml: str, document: str, expected_id: str) -> Tuple[object, str]:
        """The parsed document and its author's CNPJ, or NfseRejected naming the first check
        that failed."""
        from lxml import etree

        from ..fiscal import schemas, signing

        def refuse(code: str, message: str, detail: Optional[str] = None):
            raise NfseRejected((Rejection(code, message, detail),))

        complaints = schemas.validate(xml, document)
        if complaints:
            refuse(SIMULATED_SCHEMA_FAILURE, f"O XML não atende ao leiaute ({document}_v1.01.xsd).",
                   "; ".join(complaints)[:1000])
        root = etree.fromstring(xml.encode("utf-8"), parser=etree.XMLParser(resolve_entities=False, no_network=True))
        if document == "DPS":
            signed_id, key_of = root.find("n:infDPS", _NS).get("Id"), root.find("n:infDPS", _NS).get("Id")
            author = root.findtext("n:infDPS/n:prest/n:CNPJ", namespaces=_NS)
        else:
            signed_id = root.find("n:infPedReg", _NS).get("Id")
            key_of = root.findtext("n:infPedReg/n:chNFSe", namespaces=_NS)
            author = root.findtext("n:infPedReg/n:CNPJAutor", namespaces=_NS)
        if key_of != expected_id:
            refuse(SIMULATED_ID_MISMATCH, "O identificador informado não é o do documento.",
                   f"{expected_id} ≠ {key_of}")
        try:
            verified = signing.verify(xml)
        except signing.InvalidSignature as error:
            refuse(SIMULATED_SIGNATURE_FAILURE, "Assinatura digital inválida.", str(error))
        if verified.reference_id != signed_id:
            refuse(SIMULATED_SIGNATURE_FAILURE, "A assinatura não cobre o documento.", verified.reference_id)
        signer = signing.A1Certificate(certificate=verified.certificate, private_key=None).cnpj
        if not author or signer != author:
            refuse(SIMULATED_CERTIFICATE_NOT_THE_AUTHORS,
                   "O certificado da assinatura não é do CNPJ do prestador (autor).", f"{signer} ≠ {author}")
        return root, author

    # --- what the Sefin answers -----------------------------------------------------------------

    def _now(self, fallback: str) -> str:
        """dhProc: the simulator's clock when it has one, else the document's own time (it
        processes at once), so the tests' fake clock runs the notes too."""
        if self._clock is None:
            return fallback
        from ..domain.nfse import local_timestamp

        return local_timestamp(self._clock())

    def _generate(self, dps, dps_id: str, provider_cnpj: str) -> IssuedNfse:
        info = dps.find("n:infDPS", _NS)
        number = self._next
        processed_at = self._now(info.findtext("n:dhEmi", namespaces=_NS))
        key = simulated_access_key(info.findtext("n:cLocEmi", namespaces=_NS), provider_cnpj, number,
                                   processed_at, dps_id)
        xml = simulated_note(dps, provider_cnpj=provider_cnpj, number=number, processed_at=processed_at,
                             access_key=key)
        return IssuedNfse(number=str(number), verification_code=None, issued_at=processed_at, xml=xml,
                          access_key=key)

    def _register(self, request, note: _Note, access_key: str) -> NfseCancellation:
        import copy

        from lxml import etree

        from ..fiscal.signing import sign

        registered_at = self._now(request.findtext("n:infPedReg/n:dhEvento", namespaces=_NS))
        event_id = f"EVT{access_key}101101001"
        root = etree.Element(f"{{{NFSE_NAMESPACE}}}evento", nsmap={None: NFSE_NAMESPACE}, versao="1.01")
        inf = etree.SubElement(root, f"{{{NFSE_NAMESPACE}}}infEvento", Id=event_id)
        for tag, value in (("verAplic", SIMULATOR_VERSION), ("ambGer", "2"), ("nSeqEvento", "001"),
                           ("dhProc", registered_at), ("nDFSe", str(len(self._cancelled) + 1))):
            etree.SubElement(inf, f"{{{NFSE_NAMESPACE}}}{tag}").text = value
        inf.append(copy.deepcopy(request))
        xml = sign(etree.tostring(root, encoding="unicode"), event_id, simulated_sefin_certificate())
        return NfseCancellation(number=access_key, protocol=event_id, registered_at=registered_at, xml=xml)


def _event_summary(signed_event: str) -> dict:
    """What a test asks of an event received: read leniently (a malformed one is recorded too)."""
    from lxml import etree

    summary = {"xml": signed_event}
    try:
        root = etree.fromstring(signed_event.encode("utf-8"),
                                parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return summary
    for name, path in (("access_key", "n:infPedReg/n:chNFSe"), ("author", "n:infPedReg/n:CNPJAutor"),
                       ("requested_at", "n:infPedReg/n:dhEvento"),
                       ("reason_code", "n:infPedReg/n:e101101/n:cMotivo"),
                       ("reason_text", "n:infPedReg/n:e101101/n:xMotivo")):
        summary[name] = root.findtext(path, namespaces=_NS)
    return summary
