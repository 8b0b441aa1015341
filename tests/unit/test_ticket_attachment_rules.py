"""The support desk's own checks of a file: its type by content, its size, its name."""
import pytest

from chalicelib.domain import tickets as rules
from chalicelib.domain.errors import DomainError


@pytest.mark.parametrize("content, expected", [
    (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
    (b"%PDF-1.7\n", "application/pdf"),
    (b"PK\x03\x04\x14\x00", "application/zip"),
    ("2026-11-30 ERRO sincronização\r\n\tdetalhe".encode("utf-8"), "text/plain"),
    (b"MZ\x90\x00\x03", None),  # a Windows program, whatever its name says
    (b"\x7fELF\x02\x01", None),
    (b"texto\x00com nulo", None),
    (b"\xff\xfe\x00latin", None),
])
def test_the_type_comes_from_the_content(content, expected):
    assert rules.attachment_type(content) == expected


def test_size_and_emptiness_are_refused_with_their_codes():
    for content, code in ((b"", "attachment_empty"), (b"%PDF-" + b"0" * rules.MAX_ATTACHMENT_BYTES, "attachment_too_large"),
                          (b"MZ\x90\x00", "attachment_type_not_allowed")):
        with pytest.raises(DomainError) as refused:
            rules.check_attachment(content)
        assert refused.value.code == code
    assert rules.check_attachment(b"%PDF-" + b"0" * (rules.MAX_ATTACHMENT_BYTES - 5)) == "application/pdf"


def test_a_file_just_over_the_limit_is_not_told_it_has_the_limit():
    with pytest.raises(DomainError) as refused:
        rules.check_attachment(b"%PDF-" + b"0" * (rules.MAX_ATTACHMENT_BYTES - 4))
    assert refused.value.message == "O arquivo tem 4,1 MB; o limite é 4 MB por arquivo."


@pytest.mark.parametrize("raw, expected", [
    ("tela.png", "tela.png"),
    ("C:\\Users\\ana\\Área de trabalho\\relatório final.pdf", "relatório final.pdf"),
    ("../../etc/passwd", "passwd"),
    ('nome "com aspas"\n.txt', 'nome "com aspas".txt'),
])
def test_the_name_keeps_its_last_segment_without_control_characters(raw, expected):
    assert rules.attachment_name(raw) == expected


@pytest.mark.parametrize("raw", [
    "comprovante\u202efdp.bat",  # right-to-left override: shown as "comprovantetab.pdf"
    "comprovante\u200e\u200f\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069fdp.bat",
    "comprovante\x85\x9b\u2028\u2029\ufefffdp.bat",  # C1 controls, line/paragraph separators, BOM
])
def test_bidi_marks_and_other_invisible_characters_are_dropped_from_the_name(raw):
    assert rules.attachment_name(raw) == "comprovantefdp.bat"


@pytest.mark.parametrize("raw, media_type, expected", [
    ("comprovante\u202efdp.bat", "text/plain", "comprovantefdp.bat.txt"),
    ("script.bat", "text/plain", "script.bat.txt"),
    ("notas.TXT", "text/plain", "notas.TXT"),
    ("outlook.log", "text/plain", "outlook.log"),
    ("planilha.csv", "text/plain", "planilha.csv"),
    ("tela.png", "image/png", "tela.png"),
    ("tela.jpg", "image/png", "tela.jpg.png"),
    ("foto.jpeg", "image/jpeg", "foto.jpeg"),
    ("foto.JPG", "image/jpeg", "foto.JPG"),
    ("foto", "image/jpeg", "foto.jpg"),
    ("relatório.pdf", "application/pdf", "relatório.pdf"),
    ("relatório.pdf.exe", "application/pdf", "relatório.pdf.exe.pdf"),
    ("pacote.docx", "application/zip", "pacote.docx.zip"),
    ("pacote.zip", "application/zip", "pacote.zip"),
    ("tela.png. . ", "image/png", "tela.png"),
])
def test_the_extension_says_the_type_found_in_the_content(raw, media_type, expected):
    assert rules.attachment_name(raw, media_type) == expected


def test_a_long_name_is_cut_then_trimmed_and_keeps_room_for_its_extension():
    cut_at_a_dot = "a" * (rules.MAX_ATTACHMENT_NAME - 2) + ". " + "b" * 50
    assert rules.attachment_name(cut_at_a_dot) == "a" * (rules.MAX_ATTACHMENT_NAME - 2)
    long_script = "x" * 300 + ".bat"
    named = rules.attachment_name(long_script, "text/plain")
    assert len(named) == rules.MAX_ATTACHMENT_NAME and named == "x" * (rules.MAX_ATTACHMENT_NAME - 4) + ".txt"
    assert rules.attachment_name("r" * 300 + ".pdf", "application/pdf").endswith("rrr.pdf")


@pytest.mark.parametrize("raw", [None, "", "   ", "../..", "dir/", ". .", "\u202e\u200e", "\n\t"])
def test_a_name_with_nothing_left_is_refused(raw):
    with pytest.raises(DomainError) as refused:
        rules.attachment_name(raw)
    assert refused.value.code == "invalid_attachment_name"


def test_sizes_read_as_people_read_them():
    assert [rules.size_label(n) for n in (300, 830 * 1024, 4 * 1024 * 1024, int(5.2 * 1024 * 1024))] == \
        ["1 KB", "830 KB", "4 MB", "5,2 MB"]
    assert [rules.size_label(n, round_up=True) for n in (4 * 1024 * 1024, 4 * 1024 * 1024 + 1, 1025)] == \
        ["4 MB", "4,1 MB", "2 KB"]
