"""rendering.qr makes the QR codes reportlab's encoder makes, module for module: the same mask
chosen by the same penalty scores, the same codewords, so that the boleto's Pix and the DANFSe's
query code print exactly as before, only sooner."""
import random
import string

import pytest
from reportlab.graphics.barcode import qrencoder

from chalicelib.domain import pix
from chalicelib.rendering import qr


def _reportlab(payload: str):
    code = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    code.addData(payload)
    code.make()
    return code


def _payloads():
    chooser = random.Random(22)
    alphabet = string.ascii_letters + string.digits + " $%*+-./:&?=_"
    yield pix.dynamic_payload(location_url="pix.banco.invalid/cobv/" + "a" * 32, merchant_name="BANCO SIMULADO",
                              merchant_city="Sao Paulo", amount_cents=207100)
    yield "https://www.nfse.gov.br/ConsultaPublica/?tpc=1&chave=35503082211222333000181000000000012326110000000017"
    yield "12345678901234567890"  # numeric mode
    yield "HELLO WORLD 123"  # alphanumeric mode
    yield "Fatura nº 123 — São Paulo"  # bytes beyond ASCII
    for _ in range(120):
        yield "".join(chooser.choice(alphabet) for _ in range(chooser.choice([3, 17, 40, 90, 150, 230, 330, 600])))


@pytest.mark.parametrize("payload", list(_payloads()))
def test_the_symbol_is_reportlabs_module_for_module(payload):
    assert qr.qr_modules(payload) == _reportlab(payload).modules


@pytest.mark.parametrize("payload", list(_payloads())[:40])
def test_each_masks_penalty_is_reportlabs_and_so_is_the_codewords(payload):
    code = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    code.addData(payload)
    code.version = code.calculate_version()
    expected = []
    for mask in range(8):
        code.makeImpl(True, mask)
        expected.append(qrencoder.QRUtil.getLostPoint(code))
    assert qr._codewords(code.version, code.dataList) == code.dataCache
    size = code.version * 4 + 17
    assert [qr.lost_points(symbol, size) for symbol in qr._masked(code, code.version)] == expected
    assert qr.best_mask(code) == expected.index(min(expected))
