"""The DANFSe: the printable copy of a national NFS-e, laid out as the national DANFSe and read
straight from the NFS-e document the Sefin Nacional returned (NFSe v1.01: `infNFSe` with the DPS
inside), so the PDF says exactly what the note says.

The XML is read with the standard library (ElementTree), not lxml: rendering stays light, and the
fiscal libraries load only where a note is emitted. reportlab is imported inside the builder, like
the other PDFs'. Optional blocks a note lacks print "-"; every value from the XML is escaped
before it reaches a Paragraph, so a customer's name with "<b>" or "&" prints as typed.

Why not a library: `brazilfiscalreport` (1.3.x) renders the national DANFSe, but with fpdf2,
fontTools, Pillow, phonenumbers, python-barcode and qrcode (~16 MB of wheels) beside the reportlab
the project already ships.
"""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union
from xml.sax.saxutils import escape

from ..domain.clock import SAO_PAULO
from ..domain.money import format_brl, format_percent_br
from ..domain.organizations import format_cnpj
from .environment import format_date_br
from .pdf import MM, _configure, _draw_qr, canvas_class

NS = "http://www.sped.fazenda.gov.br/nfse"
PUBLIC_QUERY_URL = "https://www.nfse.gov.br/ConsultaPublica/?tpc=1&chave={key}"
HOMOLOGATION_MARK = "SEM VALOR FISCAL — AMBIENTE DE HOMOLOGAÇÃO"
ABSENT = "-"
NOT_IDENTIFIED = "NÃO IDENTIFICADO NA NFS-e"

# The layout's code tables (tiposSimples_v1.01.xsd), as the DANFSe prints them.
SIMPLES_NACIONAL = {"1": "Não optante", "2": "Optante - Microempreendedor Individual (MEI)",
                    "3": "Optante - Microempresa ou Empresa de Pequeno Porte (ME/EPP)"}
SIMPLES_REGIME = {"1": "Tributos federais e municipal pelo SN",
                  "2": "Tributos federais pelo SN e ISSQN por fora do SN",
                  "3": "Tributos federais e municipal por fora do SN"}
SPECIAL_REGIME = {"0": "Nenhum", "1": "Ato Cooperado (Cooperativa)", "2": "Estimativa",
                  "3": "Microempresa Municipal", "4": "Notário ou Registrador", "5": "Profissional Autônomo",
                  "6": "Sociedade de Profissionais", "9": "Outros"}
ISS_TAXATION = {"1": "Operação Tributável", "2": "Imunidade", "3": "Exportação de Serviço", "4": "Não Incidência"}
ISS_WITHHOLDING = {"1": "Não Retido", "2": "Retido pelo Tomador", "3": "Retido pelo Intermediário"}
IMMUNITY = {"0": "Imunidade (tipo não informado)", "1": "Patrimônio, renda ou serviços, uns dos outros",
            "2": "Templos de qualquer culto", "3": "Partidos, sindicatos, educação e assistência social",
            "4": "Livros, jornais, periódicos e o papel destinado a sua impressão",
            "5": "Fonogramas e videofonogramas musicais"}
SUSPENSION = {"1": "Suspensa por Decisão Judicial", "2": "Suspensa por Processo Administrativo"}
# tpRetPisCofins → which of PIS and COFINS the taker withheld (CSLL, when informed, is always withheld).
PIS_COFINS_WITHHELD = {"0": (), "1": ("PIS", "COFINS"), "2": (), "3": ("PIS", "COFINS"), "4": ("PIS", "COFINS"),
                       "5": ("PIS",), "6": ("COFINS",), "7": ("COFINS",), "8": (), "9": ("PIS",)}
# The first two digits of an IBGE municipality code are its state's.
STATES = {"11": "RO", "12": "AC", "13": "AM", "14": "RR", "15": "PA", "16": "AP", "17": "TO", "21": "MA",
          "22": "PI", "23": "CE", "24": "RN", "25": "PB", "26": "PE", "27": "AL", "28": "SE", "29": "BA",
          "31": "MG", "32": "ES", "33": "RJ", "35": "SP", "41": "PR", "42": "SC", "43": "RS", "50": "MS",
          "51": "MT", "52": "GO", "53": "DF"}


# --- reading the note ---------------------------------------------------------------------------

class _Node:
    """An element of the note, or the absence of one: every lookup answers text or None, so that a
    missing optional group reads as missing values instead of raising."""

    def __init__(self, element: Optional[ET.Element]):
        self.element = element

    def __bool__(self) -> bool:
        return self.element is not None

    def child(self, path: str) -> "_Node":
        if self.element is None:
            return _Node(None)
        return _Node(self.element.find("/".join(f"{{{NS}}}{part}" for part in path.split("/"))))

    def text(self, path: str) -> Optional[str]:
        node = self.child(path)
        value = (node.element.text or "").strip() if node else ""
        return value or None

    def attribute(self, name: str) -> Optional[str]:
        return self.element.get(name) if self.element is not None else None


def _cents(value: Optional[str]) -> Optional[int]:
    if value is None:
        return None
    try:
        return int((Decimal(value) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except (InvalidOperation, ValueError):
        return None


def _money(value: Optional[str]) -> str:
    """A layout amount ("1234.56") as 'R$ 1.234,56'; '-' when absent (and as written when malformed)."""
    cents = _cents(value)
    if cents is None:
        return value or ABSENT
    return format_brl(cents)


def _sum_money(*values: Optional[str]) -> Optional[str]:
    """Several layout amounts added, as a layout amount; None when none is informed."""
    informed = [_cents(value) for value in values if _cents(value) is not None]
    if not informed:
        return None
    return str(Decimal(sum(informed)) / 100)


def _percent(value: Optional[str]) -> str:
    """The layout writes rates as percents ("2.90" is 2,90 %)."""
    if value is None:
        return ABSENT
    try:
        return format_percent_br(Decimal(value) / 100)
    except (InvalidOperation, ValueError):
        return value


def _day(value: Optional[str]) -> str:
    if value is None:
        return ABSENT
    try:
        return format_date_br(value[:10])
    except ValueError:
        return value


def _instant(value: Optional[str]) -> str:
    """An instant of the layout (with its UTC offset) in São Paulo time, to the second."""
    if value is None:
        return ABSENT
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(SAO_PAULO)
    return moment.strftime("%d/%m/%Y %H:%M:%S")


def _document(node: _Node) -> str:
    """The person's identification: CNPJ or CPF punctuated, a foreign NIF, or why there is none."""
    cnpj, cpf, nif = node.text("CNPJ"), node.text("CPF"), node.text("NIF")
    if cnpj and len(cnpj) == 14:
        return format_cnpj(cnpj)
    if cpf and len(cpf) == 11:
        return f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"
    if nif:
        return f"NIF {nif}"
    if node.text("cNaoNIF"):
        return "NIF não informado"
    return cnpj or cpf or ABSENT


def _cep(value: Optional[str]) -> str:
    if value and len(value) == 8 and value.isdigit():
        return f"{value[:5]}-{value[5:]}"
    return value or ABSENT


def _phone(value: Optional[str]) -> str:
    if value and value.isdigit() and len(value) in (10, 11):
        return f"({value[:2]}) {value[2:-4]}-{value[-4:]}"
    return value or ABSENT


def _joined(parts: Iterable[Optional[str]], separator: str = ", ") -> str:
    return separator.join(part for part in parts if part) or ABSENT


def _street(node: _Node) -> str:
    return _joined([node.text("xLgr"), node.text("nro"), node.text("xCpl"), node.text("xBairro")])


def _city(code: Optional[str], names: Dict[str, str]) -> str:
    """A municipality by its IBGE code: its name when the note names it somewhere (the emitter's,
    the service's or the tax's place), else the code; with its state either way."""
    if not code:
        return ABSENT
    state = STATES.get(code[:2])
    name = names.get(code) or f"Código IBGE {code}"
    return f"{name} - {state}" if state else name


def _service_code(code: Optional[str], name: Optional[str]) -> str:
    if code and len(code) == 6 and code.isdigit():
        code = f"{code[:2]}.{code[2:4]}.{code[4:]}"  # item, subitem and desdobro of LC 116
    return _joined([code, name], " - ")


Cell = Tuple[str, str, float]  # label, value (plain text), share of the row's width


class _Note:
    """The values the DANFSe prints, read once from the XML."""

    def __init__(self, nfse_xml: Union[str, bytes]):
        root = ET.fromstring(nfse_xml)
        info = root if root.tag == f"{{{NS}}}infNFSe" else root.find(f".//{{{NS}}}infNFSe")
        if info is None:
            raise ValueError("not an NFS-e document: no infNFSe")
        self.info = _Node(info)
        self.dps = self.info.child("DPS/infDPS")
        identifier = self.info.attribute("Id") or ""
        self.access_key = identifier[3:] if identifier.startswith("NFS") else identifier
        self.environment = self.dps.text("tpAmb")
        emitter_city = self.info.text("emit/enderNac/cMun")
        # The note names some municipalities; the taker's, when it is one of them, prints by name.
        self.city_names: Dict[str, str] = {}
        for code, name in ((emitter_city, self.info.text("xLocEmi")),
                           (self.dps.text("serv/locPrest/cLocPrestacao"), self.info.text("xLocPrestacao")),
                           (self.info.text("cLocIncid"), self.info.text("xLocIncid"))):
            if code and name:
                self.city_names.setdefault(code, name)

    @property
    def query_url(self) -> str:
        return PUBLIC_QUERY_URL.format(key=self.access_key)

    def header(self) -> List[List[Cell]]:
        info, dps = self.info, self.dps
        return [
            [("Chave de Acesso da NFS-e", self.access_key or ABSENT, 1)],
            [("Número da NFS-e", info.text("nNFSe") or ABSENT, 1 / 3),
             ("Competência da NFS-e", _day(dps.text("dCompet")), 1 / 3),
             ("Data e Hora da emissão da NFS-e", _instant(info.text("dhProc")), 1 / 3)],
            [("Número da DPS", dps.text("nDPS") or ABSENT, 1 / 3), ("Série da DPS", dps.text("serie") or ABSENT, 1 / 3),
             ("Data e Hora da emissão da DPS", _instant(dps.text("dhEmi")), 1 / 3)],
        ]

    def emitter(self) -> List[List[Cell]]:
        emit, regime = self.info.child("emit"), self.dps.child("prest/regTrib")
        address = emit.child("enderNac")
        return [
            [("CNPJ / CPF / NIF", _document(emit), 1 / 3), ("Inscrição Municipal", emit.text("IM") or ABSENT, 1 / 3),
             ("Telefone", _phone(emit.text("fone")), 1 / 3)],
            [("Nome / Nome Empresarial", _joined([emit.text("xNome")]), 2 / 3),
             ("E-mail", emit.text("email") or ABSENT, 1 / 3)],
            [("Endereço", _street(address), 1 / 2),
             ("Município", _city(address.text("cMun"), self.city_names), 1 / 3),
             ("CEP", _cep(address.text("CEP")), 1 / 6)],
            [("Simples Nacional na Data de Competência", SIMPLES_NACIONAL.get(regime.text("opSimpNac") or "", ABSENT), 1 / 2),
             ("Regime de Apuração Tributária pelo SN", SIMPLES_REGIME.get(regime.text("regApTribSN") or "", ABSENT), 1 / 2)],
        ]

    def _person(self, node: _Node) -> List[List[Cell]]:
        address = node.child("end")
        national, foreign = address.child("endNac"), address.child("endExt")
        if foreign:
            city = _joined([foreign.text("xCidade"), foreign.text("xEstProvReg"), foreign.text("cPais")], " - ")
            postal = foreign.text("cEndPost") or ABSENT
        else:
            city, postal = _city(national.text("cMun"), self.city_names), _cep(national.text("CEP"))
        return [
            [("CNPJ / CPF / NIF", _document(node), 1 / 3), ("Inscrição Municipal", node.text("IM") or ABSENT, 1 / 3),
             ("Telefone", _phone(node.text("fone")), 1 / 3)],
            [("Nome / Nome Empresarial", node.text("xNome") or ABSENT, 2 / 3), ("E-mail", node.text("email") or ABSENT, 1 / 3)],
            [("Endereço", _street(address), 1 / 2), ("Município", city, 1 / 3), ("CEP", postal, 1 / 6)],
        ]

    def taker(self) -> Optional[List[List[Cell]]]:
        taker = self.dps.child("toma")
        return self._person(taker) if taker else None

    def intermediary(self) -> Optional[List[List[Cell]]]:
        intermediary = self.dps.child("interm")
        return self._person(intermediary) if intermediary else None

    def service(self) -> List[List[Cell]]:
        service, info = self.dps.child("serv"), self.info
        place = service.child("locPrest")
        return [
            [("Código de Tributação Nacional", _service_code(service.text("cServ/cTribNac"), info.text("xTribNac")), 1 / 2),
             ("Código de Tributação Municipal", _joined([service.text("cServ/cTribMun"), info.text("xTribMun")], " - "), 1 / 2)],
            [("Local da Prestação", _city(place.text("cLocPrestacao"), self.city_names)
              if place.text("cLocPrestacao") else ABSENT, 1 / 3),
             ("País da Prestação", place.text("cPaisPrestacao") or ABSENT, 1 / 6),
             ("Código NBS", _joined([service.text("cServ/cNBS"), info.text("xNBS")], " - "), 1 / 2)],
            [("Descrição do Serviço", service.text("cServ/xDescServ") or ABSENT, 1)],
        ]

    def _iss(self) -> Tuple[Optional[str], Optional[str]]:
        """(ISSQN apurado, ISSQN retido): the tax is withheld when tpRetISSQN says so (2 or 3)."""
        assessed = self.info.text("valores/vISSQN")
        withheld = assessed if self.dps.text("valores/trib/tribMun/tpRetISSQN") in ("2", "3") else None
        return assessed, withheld

    def municipal_tax(self) -> List[List[Cell]]:
        municipal, values, info = self.dps.child("valores/trib/tribMun"), self.dps.child("valores"), self.info
        suspension, benefit = municipal.child("exigSusp"), municipal.child("BM")
        deductions = info.text("valores/vCalcDR") or values.text("vDedRed/vDR")
        assessed, _ = self._iss()
        return [
            [("Tributação do ISSQN", ISS_TAXATION.get(municipal.text("tribISSQN") or "", ABSENT), 1 / 4),
             ("País Resultado da Prestação do Serviço", municipal.text("cPaisResult") or ABSENT, 1 / 4),
             ("Município de Incidência do ISSQN", _city(info.text("cLocIncid"), self.city_names), 1 / 4),
             ("Regime Especial de Tributação",
              SPECIAL_REGIME.get(self.dps.text("prest/regTrib/regEspTrib") or "", ABSENT), 1 / 4)],
            [("Tipo de Imunidade", IMMUNITY.get(municipal.text("tpImunidade") or "", ABSENT), 1 / 4),
             ("Suspensão da Exigibilidade do ISSQN", SUSPENSION.get(suspension.text("tpSusp") or "", "Não")
              if suspension else "Não", 1 / 4),
             ("Número Processo Suspensão", suspension.text("nProcesso") or ABSENT, 1 / 4),
             ("Benefício Municipal", benefit.text("nBM") or ABSENT, 1 / 4)],
            [("Valor do Serviço", _money(values.text("vServPrest/vServ")), 1 / 4),
             ("Desconto Incondicionado", _money(values.text("vDescCondIncond/vDescIncond")), 1 / 4),
             ("Total Deduções/Reduções", _money(deductions), 1 / 4),
             ("Cálculo do BM", _money(info.text("valores/vCalcBM")), 1 / 4)],
            [("BC ISSQN", _money(info.text("valores/vBC")), 1 / 4),
             ("Alíquota Aplicada", _percent(info.text("valores/pAliqAplic") or municipal.text("pAliq")), 1 / 4),
             ("Retenção do ISSQN", ISS_WITHHOLDING.get(municipal.text("tpRetISSQN") or "", ABSENT), 1 / 4),
             ("ISSQN Apurado", _money(assessed), 1 / 4)],
        ]

    def _federal(self) -> Dict[str, Optional[str]]:
        federal = self.dps.child("valores/trib/tribFed")
        pis_cofins = federal.child("piscofins")
        withheld = PIS_COFINS_WITHHELD.get(pis_cofins.text("tpRetPisCofins") or "", ())
        pis, cofins, csll = pis_cofins.text("vPis"), pis_cofins.text("vCofins"), federal.text("vRetCSLL")
        social_withheld = [("PIS", pis if "PIS" in withheld else None),
                           ("COFINS", cofins if "COFINS" in withheld else None), ("CSLL", csll)]
        return {
            "irrf": federal.text("vRetIRRF"), "cp": federal.text("vRetCP"),
            "social": _sum_money(*(value for _, value in social_withheld)),
            "social_names": _joined([name for name, value in social_withheld if value is not None]),
            "pis_own": pis if pis and "PIS" not in withheld else None,
            "cofins_own": cofins if cofins and "COFINS" not in withheld else None,
        }

    def federal_tax(self) -> List[List[Cell]]:
        federal = self._federal()
        return [
            [("IRRF", _money(federal["irrf"]), 1 / 4), ("Contribuição Previdenciária - Retida", _money(federal["cp"]), 1 / 4),
             ("Contribuições Sociais - Retidas", _money(federal["social"]), 1 / 4),
             ("Descrição Contrib. Sociais - Retidas", federal["social_names"], 1 / 4)],
            [("PIS - Débito Apuração Própria", _money(federal["pis_own"]), 1 / 2),
             ("COFINS - Débito Apuração Própria", _money(federal["cofins_own"]), 1 / 2)],
        ]

    def totals(self) -> List[List[Cell]]:
        values, federal = self.dps.child("valores"), self._federal()
        _, iss_withheld = self._iss()
        return [
            [("Valor do Serviço", _money(values.text("vServPrest/vServ")), 1 / 4),
             ("Desconto Condicionado", _money(values.text("vDescCondIncond/vDescCond")), 1 / 4),
             ("Desconto Incondicionado", _money(values.text("vDescCondIncond/vDescIncond")), 1 / 4),
             ("ISSQN Retido", _money(iss_withheld), 1 / 4)],
            [("Total das Retenções Federais", _money(_sum_money(federal["irrf"], federal["cp"], federal["social"])), 1 / 4),
             ("PIS/COFINS - Débito Apur. Própria", _money(_sum_money(federal["pis_own"], federal["cofins_own"])), 1 / 4),
             ("Valor Líquido da NFS-e", _money(self.info.text("valores/vLiq")), 1 / 2)],
        ]

    def approximate_taxes(self) -> List[List[Cell]]:
        totals = self.dps.child("valores/trib/totTrib")
        amounts, shares = totals.child("vTotTrib"), totals.child("pTotTrib")

        def level(name: str) -> str:
            if amounts:
                return _money(amounts.text(f"vTotTrib{name}"))
            if shares:
                return _percent(shares.text(f"pTotTrib{name}"))
            return ABSENT

        simples = totals.text("pTotTribSN")
        return [[("Federais", level("Fed"), 1 / 4), ("Estaduais", level("Est"), 1 / 4), ("Municipais", level("Mun"), 1 / 4),
                 ("Simples Nacional", _percent(simples) if simples else ABSENT, 1 / 4)]]

    def ibs_cbs(self) -> Optional[List[List[Cell]]]:
        """The tax reform's IBS and CBS, when the note carries them."""
        reform = self.info.child("IBSCBS")
        if not reform:
            return None
        code, name = reform.text("cLocalidadeIncid"), reform.text("xLocalidadeIncid")
        names = {**self.city_names, **({code: name} if code and name else {})}
        return [[("Localidade de Incidência", _city(code, names), 1 / 4),
                 ("Base de Cálculo", _money(reform.text("valores/vBC")), 1 / 4),
                 ("IBS", _money(reform.text("totCIBS/gIBS/vIBSTot")), 1 / 4),
                 ("CBS", _money(reform.text("totCIBS/gCBS/vCBS")), 1 / 4)]]

    def complementary(self) -> str:
        service = self.dps.child("serv/infoCompl")
        replaced = self.dps.child("subst")
        items = [item.text.strip() for item in service.child("gItemPed").element.iter(f"{{{NS}}}xItemPed")
                 if item.text and item.text.strip()] if service.child("gItemPed") else []
        return _joined([
            f"NFS-e substituída: {replaced.text('chSubstda')}" if replaced else None,
            self.info.text("xOutInf"),
            service.text("xInfComp"),
            f"Documento de referência: {service.text('docRef')}" if service.text("docRef") else None,
            f"Pedido: {service.text('xPed')}" if service.text("xPed") else None,
            f"Itens do pedido: {', '.join(items)}" if items else None,
        ], "\n")


# --- laying it out ------------------------------------------------------------------------------

LABEL_SIZE, VALUE_SIZE, VALUE_LEADING = 5.8, 7.6, 9
PAD = 1.2 * MM
LABEL_HEIGHT = 3 * MM
TITLE_HEIGHT = 4.4 * MM


def _paragraph_text(value: str) -> str:
    """Plain text as Paragraph markup: escaped, its line breaks kept."""
    return escape(value).replace("\n", "<br/>")


class _Line:
    """One line of plain text, drawn where a Paragraph of the sheet's style draws it (its baseline
    a font size below the top of one leading), without parsing markup, breaking lines or saving
    the canvas state: most cells of a DANFSe hold one short value."""

    def __init__(self, text: str):
        self.text = text

    def wrap(self, width: float, height: float) -> Tuple[float, float]:
        return width, VALUE_LEADING

    def drawOn(self, pdf, x: float, y: float) -> None:
        pdf.setFont("Helvetica", VALUE_SIZE)
        pdf.drawString(x, y + VALUE_LEADING - VALUE_SIZE, self.text)


class _Sheet:
    """A cursor down A4 pages: section titles and rows of labelled cells, a new page when the next
    row does not fit (a long text cell continues on the next page)."""

    def __init__(self, note: _Note, homologation: bool):
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.styles import ParagraphStyle

        _configure()
        self.buffer = io.BytesIO()
        self.pdf = canvas_class()(self.buffer, pagesize=A4)
        self.page_width, self.page_height = A4
        self.left = 8 * MM
        self.width = self.page_width - 16 * MM
        self.bottom = 8 * MM
        self.note, self.homologation = note, homologation
        self.style = ParagraphStyle("danfse", fontName="Helvetica", fontSize=VALUE_SIZE, leading=VALUE_LEADING)
        self.pages = 1
        self._start_page()

    def _paragraph(self, value: str):
        from reportlab.platypus import Paragraph

        return Paragraph(_paragraph_text(value), self.style)

    def _cell_text(self, value: str, width: float):
        """The value of a cell `width` wide: a `_Line` when it is one line of plain words that fits
        (most cells), else a Paragraph, which wraps it and can split it across pages."""
        from reportlab.pdfbase.pdfmetrics import stringWidth

        if value and value == " ".join(value.split()) and \
                stringWidth(value, "Helvetica", VALUE_SIZE) < width - 2 * PAD - 0.01:
            return _Line(value)
        return self._paragraph(value)

    def _start_page(self) -> None:
        self.y = self.page_height - 8 * MM
        if self.homologation:
            self._watermark()
        if self.pages > 1:
            self.pdf.setFont("Helvetica", 7)
            self.pdf.drawString(self.left, self.y - 3 * MM, f"DANFSe — continuação — Chave de Acesso {self.note.access_key}")
            self.pdf.drawRightString(self.left + self.width, self.y - 3 * MM, f"Página {self.pages}")
            self.y -= 5 * MM

    def _watermark(self) -> None:
        pdf = self.pdf
        pdf.saveState()
        pdf.setFillColorRGB(0.85, 0.85, 0.85)
        pdf.setFont("Helvetica-Bold", 54)
        pdf.translate(self.page_width / 2, self.page_height / 2)
        pdf.rotate(50)
        pdf.drawCentredString(0, 0, "SEM VALOR FISCAL")
        pdf.restoreState()

    def _new_page(self) -> None:
        self.pdf.showPage()
        self.pages += 1
        self._start_page()

    def space(self, height: float) -> None:
        self.y -= height

    def title(self, text: str) -> None:
        height = TITLE_HEIGHT
        if self.y - height - (LABEL_HEIGHT + VALUE_LEADING + PAD) < self.bottom:  # a title never ends a page alone
            self._new_page()
        pdf = self.pdf
        pdf.saveState()
        pdf.setFillColorRGB(0.88, 0.88, 0.88)
        pdf.rect(self.left, self.y - height, self.width, height, stroke=1, fill=1)
        pdf.restoreState()
        pdf.setFont("Helvetica-Bold", 7.5)
        pdf.drawString(self.left + PAD, self.y - height + 1.5 * MM, text)
        self.y -= height

    def row(self, cells: Sequence[Cell]) -> None:
        widths = [self.width * share for _, _, share in cells]
        paragraphs = [self._cell_text(value, width) for (_, value, _), width in zip(cells, widths)]
        heights = [paragraph.wrap(width - 2 * PAD, self.page_height)[1] for paragraph, width in zip(paragraphs, widths)]
        height = LABEL_HEIGHT + max(heights) + PAD
        if height <= self.y - self.bottom:
            self._draw(cells, paragraphs, height)
        elif len(cells) == 1:
            # A long text (the description, the complementary information) flows on overleaf.
            if self.y - self.bottom < LABEL_HEIGHT + 3 * VALUE_LEADING + PAD:
                self._new_page()
            self._flow(cells[0][0], paragraphs[0])
        else:
            self._new_page()
            self._draw(cells, paragraphs, height)

    def _flow(self, label: str, paragraph) -> None:
        inner, fresh = self.width - 2 * PAD, False
        continued = f"{label} (continuação)" if label else label
        while True:
            available = self.y - self.bottom
            _, used = paragraph.wrap(inner, self.page_height)
            if LABEL_HEIGHT + used + PAD <= available:
                self._draw([(label, "", 1)], [paragraph], LABEL_HEIGHT + used + PAD)
                return
            parts = paragraph.split(inner, available - LABEL_HEIGHT - PAD)
            if len(parts) == 2:
                self._draw([(label, "", 1)], parts[:1], available)
                paragraph, label, fresh = parts[1], continued, True
            elif fresh:  # nothing splits it on a whole page: print it as it is rather than loop
                self._draw([(label, "", 1)], [paragraph], LABEL_HEIGHT + used + PAD)
                return
            else:
                fresh = True
            self._new_page()

    def _draw(self, cells: Sequence[Cell], paragraphs, height: float) -> None:
        pdf, x = self.pdf, self.left
        for (label, _, share), paragraph in zip(cells, paragraphs):
            width = self.width * share
            pdf.rect(x, self.y - height, width, height, stroke=1, fill=0)
            pdf.setFont("Helvetica", LABEL_SIZE)
            pdf.drawString(x + PAD, self.y - 2.3 * MM, label)
            _, used = paragraph.wrap(width - 2 * PAD, self.page_height)
            paragraph.drawOn(pdf, x + PAD, self.y - LABEL_HEIGHT - used)
            x += width
        self.y -= height

    def finish(self) -> bytes:
        self.pdf.showPage()
        self.pdf.save()
        return self.buffer.getvalue()


def _header(sheet: _Sheet, note: _Note) -> None:
    pdf, left, width = sheet.pdf, sheet.left, sheet.width
    top = sheet.y
    pdf.setFont("Helvetica-Bold", 13)
    pdf.drawString(left, top - 5 * MM, "DANFSe — Documento Auxiliar da NFS-e")
    pdf.setFont("Helvetica", 7.5)
    pdf.drawString(left, top - 9 * MM, "Nota Fiscal de Serviço eletrônica — padrão nacional")
    place = _joined([note.info.text("xLocEmi"), note.info.text("emit/enderNac/UF")], " - ")
    pdf.setFont("Helvetica-Bold", 8)
    pdf.drawRightString(left + width, top - 5 * MM, f"Município emissor: {place}")
    pdf.setFont("Helvetica", 7)
    pdf.drawRightString(left + width, top - 9 * MM, "Portal Nacional da NFS-e — www.nfse.gov.br")
    sheet.space(12 * MM)
    if sheet.homologation:
        height = 6 * MM
        pdf.saveState()
        pdf.setFillColorRGB(1, 0.9, 0.9)
        pdf.setStrokeColorRGB(0.75, 0, 0)
        pdf.rect(left, sheet.y - height, width, height, stroke=1, fill=1)
        pdf.setFillColorRGB(0.75, 0, 0)
        pdf.setFont("Helvetica-Bold", 10)
        pdf.drawCentredString(left + width / 2, sheet.y - height + 2 * MM, HOMOLOGATION_MARK)
        pdf.restoreState()
        sheet.space(height + 1.5 * MM)

    # The identification rows on the left, the QR code for the public query on the right.
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph

    qr_width = 36 * MM
    rows_top = sheet.y
    sheet.width = width - qr_width
    for cells in note.header():
        sheet.row(cells)
    sheet.width = width
    box_height = max(rows_top - sheet.y, qr_width)
    x = left + width - qr_width
    pdf.rect(x, rows_top - box_height, qr_width, box_height, stroke=1, fill=0)
    qr_size = qr_width - 12 * MM
    _draw_qr(pdf, note.query_url, x + (qr_width - qr_size) / 2, rows_top - qr_size - 0.5 * MM, qr_size)
    caption = Paragraph("A autenticidade desta NFS-e pode ser verificada pela leitura deste código QR ou pela "
                        "consulta da chave de acesso no portal nacional da NFS-e.",
                        ParagraphStyle("caption", fontName="Helvetica", fontSize=5, leading=5.8, alignment=1))
    _, caption_height = caption.wrap(qr_width - 2 * PAD, box_height)
    caption.drawOn(pdf, x + PAD, rows_top - qr_size - 1 * MM - caption_height)
    sheet.y = min(sheet.y, rows_top - box_height)


def _section(sheet: _Sheet, title: str, rows: Optional[List[List[Cell]]]) -> None:
    sheet.title(title)
    for cells in rows or [[("", NOT_IDENTIFIED, 1)]]:
        sheet.row(cells)


def danfse_pdf(nfse_xml: Union[str, bytes], *, homologation: bool) -> bytes:
    """The DANFSe of an NFS-e document (the XML the Sefin Nacional returned, NFSe v1.01) as a PDF.

    `homologation`: the note comes from the restricted-production environment or the simulator;
    the pages are marked "SEM VALOR FISCAL — AMBIENTE DE HOMOLOGAÇÃO". A note whose DPS says
    tpAmb 2 is marked too: a test note must never print as one with fiscal value.
    Raises ValueError when the XML is not an NFS-e (no infNFSe)."""
    note = _Note(nfse_xml)
    sheet = _Sheet(note, homologation or note.environment == "2")
    sheet.pdf.setTitle(f"DANFSe — NFS-e nº {note.info.text('nNFSe') or ''}")
    sheet.pdf.setSubject(note.access_key)
    _header(sheet, note)
    sheet.space(1.5 * MM)
    _section(sheet, "EMITENTE DA NFS-e — PRESTADOR DO SERVIÇO", note.emitter())
    _section(sheet, "TOMADOR DO SERVIÇO", note.taker())
    _section(sheet, "INTERMEDIÁRIO DO SERVIÇO", note.intermediary())
    _section(sheet, "SERVIÇO PRESTADO", note.service())
    _section(sheet, "TRIBUTAÇÃO MUNICIPAL", note.municipal_tax())
    _section(sheet, "TRIBUTAÇÃO FEDERAL", note.federal_tax())
    _section(sheet, "VALOR TOTAL DA NFS-E", note.totals())
    _section(sheet, "TOTAIS APROXIMADOS DOS TRIBUTOS", note.approximate_taxes())
    reform = note.ibs_cbs()
    if reform:
        _section(sheet, "TRIBUTAÇÃO IBS / CBS", reform)
    _section(sheet, "INFORMAÇÕES COMPLEMENTARES", [[("", note.complementary(), 1)]])
    return sheet.finish()
