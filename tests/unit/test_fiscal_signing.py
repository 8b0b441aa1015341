"""The XMLDSig the national NFS-e asks for: enveloped, unprefixed, C14N 1.0, RSA-SHA256, with the
reseller's A1. What a verifier other than ours computes is checked with xmlsec1 where installed."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from chalicelib.fiscal import signing
from local.demo_certificate import demo_a1

DOCUMENT = ('<DPS xmlns="http://www.sped.fazenda.gov.br/nfse" versao="1.01">'
            '<infDPS Id="DPS1"><xNome>Açaí &amp; Cia &lt;Ltda&gt;</xNome><vServ>1234.56</vServ></infDPS></DPS>')


@pytest.fixture(scope="module")
def reseller():
    return signing.A1Certificate.from_pkcs12(*demo_a1("11222333000181"))


@pytest.fixture(scope="module")
def stranger():
    return signing.A1Certificate.from_pkcs12(*demo_a1("45997418000153"))


def test_the_signature_is_the_roots_last_child_and_verifies_with_the_signers_certificate(reseller):
    signed = signing.sign(DOCUMENT, "DPS1", reseller)
    assert signed.startswith("<?xml version='1.0' encoding='UTF-8'?>")
    assert '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">' in signed
    assert signed.rstrip().endswith("</Signature></DPS>")
    assert signing.verify(signed, reseller.certificate).reference_id == "DPS1"
    # Without a certificate given, the one in KeyInfo is used: the reseller's.
    assert signing.verify(signed).certificate == reseller.certificate


def test_a_changed_value_or_another_certificate_does_not_verify(reseller, stranger):
    signed = signing.sign(DOCUMENT, "DPS1", reseller)
    with pytest.raises(signing.InvalidSignature, match="digest"):
        signing.verify(signed.replace("1234.56", "1.00"), reseller.certificate)
    with pytest.raises(signing.InvalidSignature):
        signing.verify(signed, stranger.certificate)
    with pytest.raises(signing.InvalidSignature, match="no signature"):
        signing.verify(DOCUMENT, reseller.certificate)


def test_a_signature_over_another_element_than_the_one_named_is_refused(reseller):
    with pytest.raises(ValueError):
        signing.sign(DOCUMENT, "DPS2", reseller)


def test_the_certificate_carries_the_resellers_cnpj_and_a_wrong_password_says_nothing_of_the_file():
    data, password = demo_a1("11222333000181")
    assert signing.A1Certificate.from_pkcs12(data, password).cnpj == "11222333000181"
    with pytest.raises(signing.InvalidCertificate) as refused:
        signing.A1Certificate.from_pkcs12(data, "not-the-password")
    assert "not-the-password" not in str(refused.value)
    assert "private_key" not in repr(signing.A1Certificate.from_pkcs12(data, password))


@pytest.mark.skipif(shutil.which("xmlsec1") is None, reason="xmlsec1 not installed (apt install xmlsec1)")
def test_xmlsec1_verifies_what_is_signed_here_and_refuses_a_change(reseller, tmp_path):
    signed = signing.sign(DOCUMENT, "DPS1", reseller)
    (tmp_path / "cert.pem").write_bytes(reseller.certificate_pem)
    (tmp_path / "good.xml").write_text(signed, encoding="utf-8")
    (tmp_path / "bad.xml").write_text(signed.replace("1234.56", "1.00"), encoding="utf-8")

    def xmlsec(name):
        return subprocess.run(["xmlsec1", "--verify", "--pubkey-cert-pem", str(tmp_path / "cert.pem"),
                               "--id-attr:Id", "infDPS", str(tmp_path / name)], capture_output=True, text=True)

    assert xmlsec("good.xml").returncode == 0
    assert xmlsec("bad.xml").returncode != 0
