"""CNAB 240 "retorno de cobrança": the file a bank sends back with what happened to each boleto
(FEBRABAN layout, version 10.x). Pure: text in, titles and problems out; never an exception.

A file is lines of 240 characters: a file header (record type 0), lots — a lot header (1), detail
records (3) and a lot trailer (5) — and a file trailer (9). In a cobrança return each title is two
details, segment T (the title: nosso número, movement, due date, face value) followed by segment U
(the money: paid, late charges, discounts, the day paid and the day credited).

Field positions (1-based, inclusive) are FEBRABAN's "Layout Padrão de Arquivos CNAB 240 – v10.x",
segments T and U of the cobrança return, as the public layouts of the banks repeat them (e.g.
kmee/cnab240, cnab240/bancos/sicredi/specs/segmento_t.json and segmento_u.json; the CAIXA SICOB and
Banrisul CNAB 240 manuals). The movement codes are FEBRABAN's table C044 ("código de movimento
retorno"): 06 "Liquidação" and 17 "Liquidação após baixa ou liquidação de título não registrado" are
the two that mean money arrived.

`build` writes a return file from the same positions, for the tests and the local demo.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Dict, List, Optional, Sequence, Tuple

LINE_LENGTH = 240
RETURN_FILE = "2"  # file header position 143: 1 remessa (to the bank), 2 retorno (from it)
COBRANCA = "01"  # lot header positions 10–11: the service of the lot
LIQUIDATIONS = ("06", "17")
# FEBRABAN C044, the codes a cobrança return carries most (others are reported with their number).
MOVEMENTS: Dict[str, str] = {
    "02": "Entrada confirmada", "03": "Entrada rejeitada", "04": "Transferência de carteira/entrada",
    "05": "Transferência de carteira/baixa", "06": "Liquidação", "09": "Baixa",
    "11": "Títulos em carteira (em ser)", "12": "Confirmação de recebimento de instrução de abatimento",
    "13": "Confirmação de recebimento de instrução de cancelamento de abatimento",
    "14": "Confirmação de recebimento de instrução de alteração de vencimento",
    "17": "Liquidação após baixa ou liquidação de título não registrado",
    "19": "Confirmação de recebimento de instrução de protesto",
    "20": "Confirmação de recebimento de instrução de sustação/cancelamento de protesto",
    "23": "Remessa a cartório", "24": "Retirada de cartório e manutenção em carteira",
    "25": "Protestado e baixado", "26": "Instrução rejeitada",
    "27": "Confirmação do pedido de alteração de outros dados", "28": "Débito de tarifas/custas",
    "30": "Alteração de dados rejeitada",
}


@dataclass(frozen=True)
class Field:
    start: int  # 1-based, inclusive, as the FEBRABAN tables print them
    end: int
    numeric: bool = True

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    def read(self, line: str) -> str:
        return line[self.start - 1:self.end]


# Every record: bank (1–3), lot (4–7), record type (8).
BANK, LOT, RECORD = Field(1, 3), Field(4, 7), Field(8, 8)
# Detail records: sequence in the lot (9–13), segment (14), movement code (16–17).
SEQUENCE, SEGMENT, MOVEMENT = Field(9, 13), Field(14, 14, numeric=False), Field(16, 17)

# File header (record 0).
H_COMPANY_DOCUMENT = Field(19, 32)
H_COMPANY_NAME = Field(73, 102, numeric=False)
H_BANK_NAME = Field(103, 132, numeric=False)
H_RETURN_CODE = Field(143, 143)  # 1 remessa, 2 retorno
H_GENERATED_ON = Field(144, 151)  # DDMMAAAA
H_FILE_SEQUENCE = Field(158, 163)  # NSA
H_LAYOUT = Field(164, 166)

# Lot header (record 1).
L_OPERATION = Field(9, 9, numeric=False)  # R remessa, T retorno
L_SERVICE = Field(10, 11)  # 01 cobrança

# Segment T (record 3, segment T).
T_NOSSO_NUMERO = Field(38, 57, numeric=False)  # "identificação do título no banco", left-aligned
T_CARTEIRA = Field(58, 58)
T_DOCUMENT_NUMBER = Field(59, 73, numeric=False)  # "número do documento de cobrança"
T_DUE_DATE = Field(74, 81)  # DDMMAAAA
T_FACE_VALUE = Field(82, 96)  # 13 integers + 2 decimals
T_COLLECTING_BANK = Field(97, 99)
T_COMPANY_REFERENCE = Field(106, 130, numeric=False)  # "uso da empresa"
T_PAYER_NAME = Field(149, 188, numeric=False)
T_FEE = Field(199, 213)  # the bank's tariff
T_REASONS = Field(214, 223, numeric=False)  # "motivo da ocorrência"

# Segment U (record 3, segment U).
U_LATE_CHARGES = Field(18, 32)  # juros / multa / encargos
U_DISCOUNT = Field(33, 47)
U_REBATE = Field(48, 62)  # abatimento
U_IOF = Field(63, 77)
U_PAID = Field(78, 92)  # valor pago pelo pagador
U_NET = Field(93, 107)  # valor líquido a ser creditado
U_OTHER_EXPENSES = Field(108, 122)
U_OTHER_CREDITS = Field(123, 137)
U_OCCURRED_ON = Field(138, 145)  # data da ocorrência: the day it was paid
U_CREDITED_ON = Field(146, 153)  # data da efetivação do crédito

# Lot trailer (record 5) and file trailer (9).
LT_RECORDS = Field(18, 23)  # records in the lot, its header and trailer included
FT_LOTS = Field(18, 23)
FT_RECORDS = Field(24, 29)  # records in the file, its header and trailer included


@dataclass(frozen=True)
class Title:
    """One title of the return: a segment T and its segment U (`line` is the T's line number)."""

    line: int
    bank_code: str
    nosso_numero: str  # as the bank wrote it, blanks trimmed
    movement: str
    due_date: Optional[date]
    face_value_cents: int
    paid_cents: int
    late_charges_cents: int
    discount_cents: int
    rebate_cents: int
    net_cents: int
    occurred_on: Optional[date]
    credited_on: Optional[date]
    document_number: str = ""

    @property
    def is_liquidation(self) -> bool:
        return self.movement in LIQUIDATIONS

    @property
    def movement_label(self) -> str:
        return MOVEMENTS.get(self.movement, f"Movimento {self.movement}")


@dataclass(frozen=True)
class Problem:
    """A line the parser could not take, or a count that does not add up; `message` is pt-BR."""

    line: int
    code: str
    message: str


@dataclass(frozen=True)
class Header:
    bank_code: str
    company_document: str
    generated_on: Optional[date]
    file_sequence: str


@dataclass
class Retorno:
    """What a file said. `header` is None when the first line is not a return file's header: then
    nothing else was read (`problems` says why)."""

    header: Optional[Header]
    titles: List[Title] = field(default_factory=list)
    problems: List[Problem] = field(default_factory=list)
    lines: int = 0


class _Bad(Exception):
    """Inside the parser only: a field that does not read; becomes a Problem on its line."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def nosso_numero_key(raw: str) -> str:
    """The digits of a nosso número, which is how a return file and our boletos compare: the bank
    writes "00012340000000042   " where we print "1234000000004-2" or "109/00000042-5"."""
    return "".join(ch for ch in raw if ch.isdigit()).lstrip("0") or "0"


def _split(text: str) -> List[str]:
    """The file's lines: CRLF, LF or a bare CR; a DOS end-of-file mark (Ctrl-Z) and the blank lines
    at the end are not lines of the file."""
    text = text.split("\x1a", 1)[0]
    lines = re.split(r"\r\n|\n|\r", text)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _number(line: str, spec: Field, name: str) -> int:
    raw = spec.read(line)
    if not (len(raw) == spec.size and raw.isascii() and raw.isdigit()):
        raise _Bad("not_a_number", f"Campo {name} (posições {spec.start} a {spec.end}) não é numérico: {raw!r}.")
    return int(raw)


def _day(line: str, spec: Field, name: str) -> Optional[date]:
    """DDMMAAAA; zeros or blanks when the field does not apply."""
    raw = spec.read(line)
    if raw.strip() in ("", "0" * spec.size):
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise _Bad("bad_date", f"Campo {name} (posições {spec.start} a {spec.end}) não é uma data: {raw!r}.")
    try:
        return date(int(raw[4:8]), int(raw[2:4]), int(raw[0:2]))
    except ValueError:
        raise _Bad("bad_date", f"Campo {name} (posições {spec.start} a {spec.end}) não é uma data: {raw!r}.")


def _printable(line: str) -> bool:
    # A bank writes printable Latin-1 only: a control character means a damaged or binary file.
    return all(" " <= ch <= "~" or "\xa0" <= ch <= "\xff" for ch in line)


def _header(line: str) -> Header:
    if _number(line, RECORD, "tipo de registro") != 0:
        raise _Bad("no_file_header", "A primeira linha não é o header de arquivo (registro 0).")
    if H_RETURN_CODE.read(line) != RETURN_FILE:
        raise _Bad("not_a_return", "O header indica um arquivo de remessa, não de retorno (posição 143 ≠ 2).")
    return Header(bank_code=BANK.read(line), company_document=H_COMPANY_DOCUMENT.read(line).strip(),
                  generated_on=_day(line, H_GENERATED_ON, "data de geração"),
                  file_sequence=H_FILE_SEQUENCE.read(line).strip())


def _segment_t(line: str) -> Dict[str, object]:
    nosso_numero = T_NOSSO_NUMERO.read(line).strip()
    if not nosso_numero:
        raise _Bad("no_nosso_numero", "Segmento T sem nosso número (posições 38 a 57).")
    return {"nosso_numero": nosso_numero, "movement": f"{_number(line, MOVEMENT, 'código de movimento'):02d}",
            "due_date": _day(line, T_DUE_DATE, "vencimento"),
            "face_value_cents": _number(line, T_FACE_VALUE, "valor nominal"),
            "document_number": T_DOCUMENT_NUMBER.read(line).strip()}


def _segment_u(line: str) -> Dict[str, object]:
    return {"late_charges_cents": _number(line, U_LATE_CHARGES, "juros/multa"),
            "discount_cents": _number(line, U_DISCOUNT, "desconto"),
            "rebate_cents": _number(line, U_REBATE, "abatimento"),
            "paid_cents": _number(line, U_PAID, "valor pago"),
            "net_cents": _number(line, U_NET, "valor líquido"),
            "occurred_on": _day(line, U_OCCURRED_ON, "data da ocorrência"),
            "credited_on": _day(line, U_CREDITED_ON, "data do crédito")}


def parse(text: str) -> Retorno:
    """Read a return file. Each line that does not read is a Problem with its number; the titles
    of the others are returned all the same. Never raises (a bug here would lose a whole file)."""
    lines = _split(text)
    result = Retorno(header=None, lines=len(lines))
    if not lines:
        result.problems.append(Problem(1, "empty", "O arquivo está vazio."))
        return result
    first = lines[0]
    if len(first) != LINE_LENGTH or not _printable(first):
        result.problems.append(Problem(1, "no_file_header",
                                       f"A primeira linha tem {len(first)} caracteres (ou caracteres inválidos): "
                                       "não é um arquivo CNAB 240."))
        return result
    try:
        result.header = _header(first)
    except _Bad as bad:
        result.problems.append(Problem(1, bad.code, bad.message))
        return result
    _Reader(result, lines).run()
    return result


class _Reader:
    """The lines after the file header, in order: lots, their T/U pairs, their counts."""

    def __init__(self, result: Retorno, lines: Sequence[str]):
        self.result, self.lines = result, lines
        self.bank = result.header.bank_code
        self.lot_start: Optional[int] = None  # line number of the open lot's header
        self.lot_is_cobranca = False
        self.lots = 0
        self.pending_t: Optional[Tuple[int, str, Dict[str, object]]] = None  # (line, lot, fields)
        self.trailer_at: Optional[int] = None

    def problem(self, number: int, code: str, message: str) -> None:
        self.result.problems.append(Problem(number, code, message))

    def run(self) -> None:
        for number, line in enumerate(self.lines[1:], start=2):
            if self.trailer_at is not None:
                self.problem(number, "after_trailer", "Linha depois do trailer de arquivo (registro 9).")
                continue
            if len(line) != LINE_LENGTH:
                self._drop_pending_t()
                self.problem(number, "line_length", f"A linha tem {len(line)} caracteres; o CNAB 240 exige 240.")
                continue
            if not _printable(line):
                self._drop_pending_t()
                self.problem(number, "bad_characters", "A linha contém caracteres de controle ou binários.")
                continue
            if BANK.read(line) != self.bank:
                self._drop_pending_t()
                self.problem(number, "other_bank", f"Linha do banco {BANK.read(line)!r} num arquivo do banco "
                                                   f"{self.bank}.")
                continue
            try:
                self._record(number, line)
            except _Bad as bad:
                self.problem(number, bad.code, bad.message)
        self._drop_pending_t()
        if self.trailer_at is None:
            self.problem(len(self.lines) + 1, "no_file_trailer",
                         "O arquivo não tem trailer (registro 9): pode estar truncado.")

    def _record(self, number: int, line: str) -> None:
        record = RECORD.read(line)
        if record == "3":
            self._detail(number, line)
            return
        self._drop_pending_t()
        if record == "1":
            if self.lot_start is not None:
                self.problem(self.lot_start, "no_lot_trailer", "Lote sem trailer (registro 5).")
            self.lot_start, self.lots = number, self.lots + 1
            self.lot_is_cobranca = L_SERVICE.read(line) == COBRANCA
            if not self.lot_is_cobranca:
                self.problem(number, "not_cobranca", f"Lote de serviço {L_SERVICE.read(line)!r}, não de cobrança "
                                                     "(01): seus registros foram ignorados.")
        elif record == "5":
            if self.lot_start is None:
                raise _Bad("no_lot_header", "Trailer de lote (registro 5) sem header de lote.")
            declared = _number(line, LT_RECORDS, "quantidade de registros do lote")
            counted = number - self.lot_start + 1
            self.lot_start = None
            if declared != counted:
                raise _Bad("lot_count", f"O trailer do lote declara {declared} registros; o lote tem {counted}.")
        elif record == "9":
            self.trailer_at = number
            if self.lot_start is not None:
                self.problem(self.lot_start, "no_lot_trailer", "Lote sem trailer (registro 5).")
                self.lot_start = None
            lots = _number(line, FT_LOTS, "quantidade de lotes")
            records = _number(line, FT_RECORDS, "quantidade de registros")
            if lots != self.lots or records != number:
                raise _Bad("file_count", f"O trailer do arquivo declara {lots} lote(s) e {records} registros; "
                                         f"o arquivo tem {self.lots} e {number}.")
        elif record == "0":
            raise _Bad("second_file_header", "Um segundo header de arquivo (registro 0).")
        else:
            raise _Bad("unknown_record", f"Tipo de registro {record!r} desconhecido.")

    def _detail(self, number: int, line: str) -> None:
        if self.lot_start is None:
            self._drop_pending_t()
            raise _Bad("no_lot_header", "Registro de detalhe fora de um lote.")
        if not self.lot_is_cobranca:
            return  # its lot header was reported once
        segment = SEGMENT.read(line)
        if segment == "T":
            self._drop_pending_t()
            self.pending_t = (number, LOT.read(line), _segment_t(line))  # a bad T raises: reported, no pair
        elif segment == "U":
            pending, self.pending_t = self.pending_t, None
            if pending is None or pending[0] != number - 1 or pending[1] != LOT.read(line):
                raise _Bad("u_without_t", "Segmento U sem o segmento T na linha anterior.")
            t_line, _, t_fields = pending
            try:
                u_fields = _segment_u(line)
            except _Bad as bad:
                # The pair is one title: a U that does not read invalidates its T too.
                raise _Bad(bad.code, f"{bad.message} (título da linha {t_line})")
            self.result.titles.append(Title(line=t_line, bank_code=self.bank, **t_fields, **u_fields))
        else:
            self._drop_pending_t()  # other segments (Y and the like) carry nothing we use

    def _drop_pending_t(self) -> None:
        if self.pending_t is not None:
            self.problem(self.pending_t[0], "t_without_u", "Segmento T sem o segmento U na linha seguinte.")
            self.pending_t = None


# --- building a return file (tests, the local demo) ---------------------------------------------

@dataclass(frozen=True)
class TitleSpec:
    nosso_numero: str
    paid_cents: int
    occurred_on: date
    movement: str = "06"
    face_value_cents: Optional[int] = None  # the paid amount when not given
    due_date: Optional[date] = None
    late_charges_cents: int = 0
    discount_cents: int = 0
    credited_on: Optional[date] = None
    document_number: str = ""


def _put(line: List[str], spec: Field, value) -> None:
    if spec.numeric:
        text = f"{int(value):0{spec.size}d}"
    else:
        text = f"{value:<{spec.size}}"
    if len(text) != spec.size:
        raise ValueError(f"{value!r} does not fit positions {spec.start}–{spec.end}")
    line[spec.start - 1:spec.end] = list(text)


def _ddmmyyyy(day: Optional[date]) -> str:
    return day.strftime("%d%m%Y") if day else "00000000"


def _blank(bank: str, lot: str, record: str) -> List[str]:
    line = [" "] * LINE_LENGTH
    line[0:3], line[3:7], line[7] = list(bank), list(lot), record
    return line


def build(bank_code: str, titles: Sequence[TitleSpec], *, generated_on: date, company_document: str = "",
          company_name: str = "", file_sequence: int = 1, newline: str = "\r\n") -> str:
    """A cobrança return file: one lot with a T and a U per title, counts that add up."""
    out: List[List[str]] = []
    header = _blank(bank_code, "0000", "0")
    _put(header, H_COMPANY_DOCUMENT, company_document.rjust(14, "0")[-14:] if company_document else 0)
    _put(header, H_COMPANY_NAME, company_name[:30])
    _put(header, H_RETURN_CODE, RETURN_FILE)
    _put(header, H_GENERATED_ON, _ddmmyyyy(generated_on))
    _put(header, H_FILE_SEQUENCE, file_sequence)
    _put(header, H_LAYOUT, 103)
    out.append(header)
    lot_header = _blank(bank_code, "0001", "1")
    _put(lot_header, L_OPERATION, "T")
    _put(lot_header, L_SERVICE, COBRANCA)
    out.append(lot_header)
    sequence = 0
    for title in titles:
        sequence += 1
        t = _blank(bank_code, "0001", "3")
        _put(t, SEQUENCE, sequence)
        _put(t, SEGMENT, "T")
        _put(t, MOVEMENT, title.movement)
        _put(t, T_NOSSO_NUMERO, title.nosso_numero)
        _put(t, T_DOCUMENT_NUMBER, title.document_number[:15])
        _put(t, T_DUE_DATE, _ddmmyyyy(title.due_date))
        _put(t, T_FACE_VALUE, title.paid_cents if title.face_value_cents is None else title.face_value_cents)
        sequence += 1
        u = _blank(bank_code, "0001", "3")
        _put(u, SEQUENCE, sequence)
        _put(u, SEGMENT, "U")
        _put(u, MOVEMENT, title.movement)
        for spec, value in ((U_LATE_CHARGES, title.late_charges_cents), (U_DISCOUNT, title.discount_cents),
                            (U_REBATE, 0), (U_IOF, 0), (U_PAID, title.paid_cents), (U_NET, title.paid_cents),
                            (U_OTHER_EXPENSES, 0), (U_OTHER_CREDITS, 0)):
            _put(u, spec, value)
        _put(u, U_OCCURRED_ON, _ddmmyyyy(title.occurred_on))
        _put(u, U_CREDITED_ON, _ddmmyyyy(title.credited_on or title.occurred_on))
        out.extend([t, u])
    lot_trailer = _blank(bank_code, "0001", "5")
    _put(lot_trailer, LT_RECORDS, sequence + 2)
    out.append(lot_trailer)
    trailer = _blank(bank_code, "9999", "9")
    _put(trailer, FT_LOTS, 1)
    _put(trailer, FT_RECORDS, len(out) + 1)
    out.append(trailer)
    return newline.join("".join(line) for line in out) + newline
