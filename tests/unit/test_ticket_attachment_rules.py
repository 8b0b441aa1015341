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


@pytest.mark.parametrize("raw, expected", [
    ("tela.png", "tela.png"),
    ("C:\\Users\\ana\\Área de trabalho\\relatório final.pdf", "relatório final.pdf"),
    ("../../etc/passwd", "passwd"),
    ('nome "com aspas"\n.txt', 'nome "com aspas".txt'),
])
def test_the_name_keeps_its_last_segment_without_control_characters(raw, expected):
    assert rules.attachment_name(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "   ", "../..", "dir/"])
def test_a_name_with_nothing_left_is_refused(raw):
    with pytest.raises(DomainError) as refused:
        rules.attachment_name(raw)
    assert refused.value.code == "invalid_attachment_name"


def test_sizes_read_as_people_read_them():
    assert [rules.size_label(n) for n in (300, 830 * 1024, 4 * 1024 * 1024, int(5.2 * 1024 * 1024))] == \
        ["1 KB", "830 KB", "4 MB", "5,2 MB"]
