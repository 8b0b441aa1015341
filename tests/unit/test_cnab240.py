"""The CNAB 240 return parser against the FEBRABAN positions, written here by hand (not from the
module's own field table), and its promise: a problem per bad line, never an exception."""
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain import cnab240


def record(fields, bank="001"):
    """A 240-character line: blanks, then each (start, text) at its 1-based FEBRABAN position."""
    line = [" "] * 240
    for start, text in fields:
        line[start - 1:start - 1 + len(text)] = list(text)
    assert len(line) == 240
    return "".join(line)


HEADER = record([(1, "001"), (4, "0000"), (8, "0"), (18, "2"), (19, "12345678000195"), (73, "BRASOFTWARE"),
                 (143, "2"), (144, "25112026"), (152, "093000"), (158, "000042"), (164, "103")])
LOT_HEADER = record([(1, "001"), (4, "0001"), (8, "1"), (9, "T"), (10, "01"), (14, "060")])
# Segment T: movement 06 at 16–17, nosso número at 38–57, due date at 74–81, face value at 82–96.
SEGMENT_T = record([(1, "001"), (4, "0001"), (8, "3"), (9, "00001"), (14, "T"), (16, "06"), (18, "01234"),
                    (38, "12345670000000042"), (58, "1"), (59, "FAT-42"), (74, "23112026"),
                    (82, "000000000123456"), (97, "001"), (149, "PADARIA PAO DE MEL LTDA")])
# Segment U: juros/multa 18–32, desconto 33–47, abatimento 48–62, IOF 63–77, pago 78–92,
# líquido 93–107, outras despesas 108–122, outros créditos 123–137, ocorrência 138–145, crédito 146–153.
SEGMENT_U = record([(1, "001"), (4, "0001"), (8, "3"), (9, "00002"), (14, "U"), (16, "06"),
                    (18, "000000000000731"), (33, "000000000000100"), (48, "0" * 15), (63, "0" * 15),
                    (78, "000000000124087"), (93, "000000000123987"), (108, "0" * 15), (123, "0" * 15),
                    (138, "24112026"), (146, "25112026")])
LOT_TRAILER = record([(1, "001"), (4, "0001"), (8, "5"), (18, "000004")])
FILE_TRAILER = record([(1, "001"), (4, "9999"), (8, "9"), (18, "000001"), (24, "000006")])
FILE = [HEADER, LOT_HEADER, SEGMENT_T, SEGMENT_U, LOT_TRAILER, FILE_TRAILER]


def test_a_liquidation_reads_from_the_febraban_positions_of_segments_t_and_u():
    parsed = cnab240.parse("\r\n".join(FILE) + "\r\n")
    assert parsed.problems == []
    assert parsed.header == cnab240.Header(bank_code="001", company_document="12345678000195",
                                           generated_on=date(2026, 11, 25), file_sequence="000042")
    [title] = parsed.titles
    assert title == cnab240.Title(
        line=3, bank_code="001", nosso_numero="12345670000000042", movement="06", due_date=date(2026, 11, 23),
        face_value_cents=123456, paid_cents=124087, late_charges_cents=731, discount_cents=100, rebate_cents=0,
        net_cents=123987, occurred_on=date(2026, 11, 24), credited_on=date(2026, 11, 25), document_number="FAT-42")
    assert title.is_liquidation


def test_the_builder_writes_the_same_positions():
    built = cnab240.build("001", [cnab240.TitleSpec(
        nosso_numero="12345670000000042", paid_cents=124087, occurred_on=date(2026, 11, 24),
        face_value_cents=123456, due_date=date(2026, 11, 23), late_charges_cents=731,
        credited_on=date(2026, 11, 25))], generated_on=date(2026, 11, 25)).split("\r\n")
    t, u = built[2], built[3]
    assert (t[7], t[13], t[15:17], t[37:57].rstrip(), t[73:81], t[81:96]) == (
        "3", "T", "06", "12345670000000042", "23112026", "000000000123456")
    assert (u[13], u[17:32], u[77:92], u[137:145], u[145:153]) == (
        "U", "000000000000731", "000000000124087", "24112026", "25112026")
    assert built[0][142] == "2" and built[-2][:8] == "00199999" and built[-1] == ""


def test_line_endings_trailing_blank_lines_and_a_dos_eof_mark_are_tolerated():
    for text in ("\n".join(FILE), "\r".join(FILE), "\r\n".join(FILE) + "\r\n\r\n  \n", "\r\n".join(FILE) + "\x1a"):
        parsed = cnab240.parse(text)
        assert (len(parsed.titles), parsed.problems) == (1, []), repr(text[-5:])


def test_every_bad_line_is_a_problem_with_its_number_and_the_rest_still_reads():
    second_t = SEGMENT_T.replace("12345670000000042", "12345670000000043")
    bad_u = SEGMENT_U[:77] + "00000000012408X" + SEGMENT_U[92:]
    lines = [HEADER, LOT_HEADER, SEGMENT_T, SEGMENT_U, second_t, bad_u, SEGMENT_T[:239], SEGMENT_U,
             record([(1, "001"), (4, "0001"), (8, "5"), (18, "000008")]), FILE_TRAILER, HEADER]
    parsed = cnab240.parse("\r\n".join(lines))
    assert [t.line for t in parsed.titles] == [3]
    assert [(p.line, p.code) for p in parsed.problems] == [
        (6, "not_a_number"), (7, "line_length"), (8, "u_without_t"), (10, "file_count"), (11, "after_trailer")]
    assert "valor pago" in parsed.problems[0].message and "linha 5" in parsed.problems[0].message


def test_structure_problems_t_without_u_counts_and_a_missing_trailer():
    parsed = cnab240.parse("\r\n".join([HEADER, LOT_HEADER, SEGMENT_T, LOT_TRAILER]))
    assert [(p.line, p.code) for p in parsed.problems] == [(3, "t_without_u"), (4, "lot_count"),
                                                            (5, "no_file_trailer")]


def test_a_file_that_is_no_return_file_has_no_header_and_nothing_else_is_read():
    remessa = HEADER[:142] + "1" + HEADER[143:]
    for text, code in (("", "empty"), ("olá", "no_file_header"), (remessa, "not_a_return"),
                       (LOT_HEADER, "no_file_header"), ("\x00" * 240, "no_file_header")):
        parsed = cnab240.parse(text + "\r\n" + "\r\n".join(FILE[1:]) if text else "")
        assert parsed.header is None and parsed.titles == []
        assert parsed.problems[0].code == code and parsed.problems[0].line == 1


def test_other_movements_are_titles_that_are_not_liquidations():
    for movement, liquidation in (("02", False), ("09", False), ("06", True), ("17", True), ("28", False)):
        t = SEGMENT_T[:15] + movement + SEGMENT_T[17:]
        [title] = cnab240.parse("\r\n".join([HEADER, LOT_HEADER, t, SEGMENT_U, LOT_TRAILER, FILE_TRAILER])).titles
        assert title.is_liquidation is liquidation and title.movement == movement


def test_nosso_numero_keys_compare_digits_only():
    assert cnab240.nosso_numero_key("109/00000042-5") == cnab240.nosso_numero_key("109000000425        ")
    assert cnab240.nosso_numero_key("12345670000000042") == cnab240.nosso_numero_key("00012345670000000042")


titles = st.lists(st.builds(
    cnab240.TitleSpec,
    nosso_numero=st.text("0123456789", min_size=1, max_size=20).filter(lambda s: s.strip("0")),
    paid_cents=st.integers(1, 10 ** 13 - 1), occurred_on=st.dates(date(2000, 1, 1), date(2099, 12, 31)),
    movement=st.sampled_from(["02", "06", "09", "17"]), face_value_cents=st.integers(0, 10 ** 13 - 1),
    due_date=st.none() | st.dates(date(2000, 1, 1), date(2099, 12, 31)),
    late_charges_cents=st.integers(0, 10 ** 9)), max_size=8)


@settings(max_examples=60, deadline=None)
@given(titles, st.sampled_from(["\r\n", "\n"]))
def test_build_then_parse_gives_back_every_title(specs, newline):
    parsed = cnab240.parse(cnab240.build("341", specs, generated_on=date(2026, 11, 25), newline=newline))
    assert parsed.problems == []
    assert [(t.line, t.nosso_numero, t.paid_cents, t.occurred_on, t.movement, t.face_value_cents, t.due_date,
             t.late_charges_cents) for t in parsed.titles] == [
        (3 + 2 * i, s.nosso_numero, s.paid_cents, s.occurred_on, s.movement, s.face_value_cents, s.due_date,
         s.late_charges_cents) for i, s in enumerate(specs)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(FILE) | st.text(max_size=300) | st.binary(max_size=300).map(
    lambda b: b.decode("latin-1")), max_size=12))
def test_no_input_makes_the_parser_raise(lines):
    parsed = cnab240.parse("\r\n".join([HEADER] + lines))
    for problem in parsed.problems:
        assert problem.line >= 1 and problem.message
