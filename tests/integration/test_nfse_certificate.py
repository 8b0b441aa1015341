"""The A1 certificate as emission meets it: infra/'s placeholder while the NFS-e is simulated,
a certificate that is not the reseller's or has expired, and what each path does then."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from chalicelib import bootstrap
from chalicelib.adapters.certificates import CertificateUnavailable, SecretsManagerCertificate, secret_value
from chalicelib.fiscal import schemas, signing
from chalicelib.domain.clock import FixedClock
from local.demo_certificate import demo_a1
from tests.support import billed_in_november, sp

PLACEHOLDER = json.dumps({"pkcs12_base64": "", "password": ""})  # as infra/resources.json creates it


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


def _put(deps, value: str) -> None:
    boto3.client("secretsmanager", region_name=deps.settings.region).put_secret_value(
        SecretId=deps.settings.nfse_certificate_secret, SecretString=value)




def test_a_simulated_stack_whose_secret_is_still_the_placeholder_signs_with_a_demo_certificate(world, clock, caplog):
    """A stack deployed before the reseller has its A1 (NFSE_PROVIDER=simulated, infra/'s
    placeholder) still issues its simulated notes, signed by a demo A1 of the reseller's CNPJ."""
    _put(world.deps, PLACEHOLDER)
    world.deps.nfse_certificate = bootstrap.build(world.deps.settings, clock=world.deps.clock).nfse_certificate

    _, _, invoice = billed_in_november(world, clock)

    xml = world.deps.documents.get(invoice.nfse.xml_key)
    assert invoice.nfse is not None and invoice.nfse_failure is None and schemas.validate(xml, "NFSe") == []
    assert world.deps.nfse_certificate.certificate().cnpj == world.deps.settings.beneficiary_cnpj
    assert "placeholder" in caplog.text and "demo certificate" in caplog.text


def test_the_placeholder_never_stands_in_for_the_real_emitter(deps):
    _put(deps, PLACEHOLDER)
    reader = SecretsManagerCertificate(deps.settings.nfse_certificate_secret, deps.settings.region)
    with pytest.raises(CertificateUnavailable, match="placeholder"):
        reader.certificate()


def test_a_certificate_of_another_cnpj_or_expired_is_refused_by_name(deps):
    secret = deps.settings.nfse_certificate_secret
    _put(deps, secret_value(*demo_a1("99888777000166", "OUTRA LTDA")))
    other = SecretsManagerCertificate(secret, deps.settings.region, owner_cnpj=deps.settings.beneficiary_cnpj)
    with pytest.raises(CertificateUnavailable, match="99888777000166"):
        other.certificate()

    _put(deps, secret_value(*demo_a1(deps.settings.beneficiary_cnpj)))
    later = {"now": datetime.now(timezone.utc)}
    reader = SecretsManagerCertificate(secret, deps.settings.region, owner_cnpj=deps.settings.beneficiary_cnpj,
                                       clock=lambda: later["now"])
    certificate = reader.certificate()
    later["now"] = certificate.not_valid_after + timedelta(days=1)  # the container outlived it
    with pytest.raises(CertificateUnavailable, match="expired"):
        reader.certificate()


def test_a_billing_run_without_a_usable_certificate_records_it_on_the_invoice_and_tells_the_operators(world, clock):
    _put(world.deps, secret_value(*demo_a1("99888777000166", "OUTRA LTDA")))
    world.deps.nfse_certificate = bootstrap.build(world.deps.settings, clock=world.deps.clock).nfse_certificate
    emitter = world.deps.nfse_emitter

    org, operator, invoice = billed_in_november(world, clock)

    assert emitter.emit_requests == []  # nothing was sent
    # No note; the boleto issued and stored all the same (the invoice PDF is drawn on its first download).
    assert invoice.nfse is None and invoice.active_boleto is not None and invoice.active_boleto.pdf_key
    [rejection] = invoice.nfse_failure.rejections
    assert rejection.code == "A1-INDISPONIVEL" and "99888777000166" in rejection.detail
    subjects = [m["Subject"] for m in world.outbox()]
    assert sum("Fatura nº" in s for s in subjects) == 1  # the customer's invoice email still went
    operators = [m for m in world.outbox() if m["To"] == world.deps.settings.operators_email
                 and "A1-INDISPONIVEL" in m.get_body(("plain",)).get_content()]
    assert len(operators) == 1


def test_cancelling_an_invoice_without_a_usable_certificate_changes_nothing(world, clock):
    org, operator, invoice = billed_in_november(world, clock)
    _put(world.deps, PLACEHOLDER)
    world.deps.nfse_certificate = SecretsManagerCertificate(world.deps.settings.nfse_certificate_secret,
                                                            world.deps.settings.region)
    world.deps.bank.calls.clear()

    response = world.call("POST", f"/backoffice/invoices/{invoice.id}/cancel", operator, {"reason": "Erro de cadastro"})

    assert (response.status_code, response.json_body["error"]["code"]) == (503, "nfse_certificate_unavailable")
    assert world.deps.nfse_emitter.cancel_requests == [] and world.deps.bank.calls == []
    after = world.deps.invoices.get(invoice.id)
    assert after.status == invoice.status and after.cancellation is None and after.nfse == invoice.nfse
    assert signing.verify(world.deps.documents.get(invoice.nfse.xml_key)) is not None
