"""JsonSecret over a stubbed Secrets Manager client: every way reading (or writing) the secret can
fail reaches the adapters as SecretUnavailable, which they answer as their partner's transient
Unavailable; no message quotes the secret."""
from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from chalicelib.adapters import secrets
from chalicelib.adapters.bank import BankUnavailable
from chalicelib.adapters.bb_cobranca import BancoDoBrasilCobranca
from chalicelib.adapters.licence_provider import LicenceProviderUnavailable
from chalicelib.adapters.partner_center import PartnerCenter
from chalicelib.adapters.secrets import JsonSecret, SecretUnavailable
from chalicelib.settings import BankApi, PartnerCenterApi

SECRET_VALUE = "s3cr3t-que-nunca-aparece"
SECRET_ID = "csp-portal/bank-credentials"


@pytest.fixture
def client(monkeypatch):
    """The one client JsonSecret gets from boto3, stubbed: each test scripts its answers."""
    real = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x").client(
        "secretsmanager", region_name="sa-east-1")
    monkeypatch.setattr(secrets.boto3, "client", lambda *args, **kwargs: real)
    return real


def secret(required=("client_id",)) -> JsonSecret:
    return JsonSecret(SECRET_ID, "sa-east-1", required)


@pytest.mark.parametrize("code, status", [
    ("AccessDeniedException", 400), ("DecryptionFailure", 400), ("ThrottlingException", 400),
    ("InternalServiceError", 500), ("ResourceNotFoundException", 400), ("SomethingAwsAddsLater", 400),
])
def test_every_error_the_service_answers_is_secret_unavailable_naming_the_code(client, code, status):
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", service_error_code=code, http_status_code=status,
                              service_message=f"value {SECRET_VALUE}")
        with pytest.raises(SecretUnavailable) as refused:
            secret().values()
    message = str(refused.value)
    assert SECRET_ID in message and SECRET_VALUE not in message
    assert ("not found" in message) if code == "ResourceNotFoundException" else (code in message)


@pytest.mark.parametrize("failure", [
    EndpointConnectionError(endpoint_url=f"https://secretsmanager.sa-east-1.amazonaws.com/?{SECRET_VALUE}"),
    ReadTimeoutError(endpoint_url="https://secretsmanager.sa-east-1.amazonaws.com/"),
])
def test_a_connection_failure_is_secret_unavailable_without_its_url(client, monkeypatch, failure):
    def fail(**_):
        raise failure

    monkeypatch.setattr(client, "get_secret_value", fail)
    with pytest.raises(SecretUnavailable) as refused:
        secret().values()
    assert type(failure).__name__ in str(refused.value) and SECRET_VALUE not in str(refused.value)


def test_a_failed_write_is_secret_unavailable_and_keeps_nothing(client):
    credentials = secret()
    with Stubber(client) as stub:
        stub.add_client_error("put_secret_value", service_error_code="AccessDeniedException")
        with pytest.raises(SecretUnavailable) as refused:
            credentials.put({"client_id": SECRET_VALUE})
        stub.add_response("get_secret_value", {"SecretString": json.dumps({"client_id": "stored"})})
        assert credentials.values() == {"client_id": "stored"}  # the failed write was not kept
    assert "AccessDeniedException" in str(refused.value) and SECRET_VALUE not in str(refused.value)


def test_both_adapters_answer_an_unreadable_secret_as_their_partner_unavailable(client, monkeypatch):
    def fail(**_):
        raise EndpointConnectionError(endpoint_url="https://secretsmanager.sa-east-1.amazonaws.com/")

    monkeypatch.setattr(client, "get_secret_value", fail)
    bank = BancoDoBrasilCobranca(
        BankApi(api_url="https://bank.invalid/cobrancas/v2", oauth_url="https://bank.invalid/oauth/token",
                credentials_secret=SECRET_ID, timeout_seconds=1.0, ca_bundle=None, bb_variacao_carteira="35",
                payable_days_after_due=30),
        secret(("client_id", "client_secret", "developer_application_key", "webhook_token")),
        convenio="1234567", carteira="17", sleep=lambda seconds: None)
    with pytest.raises(BankUnavailable):
        bank.query("12345670000000042")
    with pytest.raises(BankUnavailable):
        bank.webhook_token()

    partner_center = PartnerCenter(
        PartnerCenterApi(api_url="https://pc.invalid", authority_host="https://login.invalid",
                         credentials_secret="csp-portal/partner-center", timeout_seconds=1.0, ca_bundle=None,
                         country="BR"),
        JsonSecret("csp-portal/partner-center", "sa-east-1", ("tenant_id", "app_id", "app_secret", "refresh_token")),
        sleep=lambda seconds: None)
    with pytest.raises(LicenceProviderUnavailable):
        partner_center.get("d6a0c8f0-0000-4000-8000-000000000001", "5b0c3f6e-0000-4000-8000-000000000002")
