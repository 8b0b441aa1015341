"""The NFS-e's fiscal libraries (lxml, xsdata, nfelib's bindings and XSDs: chalicelib/fiscal) and the
A1 certificate are loaded only where a note is emitted or cancelled; the certificate's secret is
read once per container and never shows in an error, a log line or a repr; NFSE_PROVIDER=sefin wires
the Sefin Nacional's adapter without reading the secret or touching the network at start."""
from __future__ import annotations

import base64
import json
import logging
import os
import socket
import subprocess
import sys
import types

import boto3
import pytest

from chalicelib import bootstrap
from chalicelib.adapters.certificates import CertificateUnavailable, SecretsManagerCertificate, secret_value
from chalicelib.settings import from_environ
from local.demo_certificate import demo_a1
from tests.support import prod_stage_environ

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FISCAL_LIBRARIES = ("lxml", "nfelib", "xsdata")

# Run in a fresh interpreter: what an API container has loaded after answering requests, and after
# the first thing an emission does (read the A1, check a DPS against the XSD).
LOADING_SCRIPT = r"""
import json, sys

def fiscal_modules():
    return sorted(m for m in sys.modules
                  if m.split(".")[0] in ("lxml", "nfelib", "xsdata") or m.startswith("chalicelib.fiscal"))

from chalice.test import Client

import app

with Client(app.app) as client:
    statuses = [client.http.get("/openapi.json").status_code, client.http.get("/invoices").status_code]
after_api = fiscal_modules()
from chalicelib import bootstrap

deps = bootstrap.container()
after_container = fiscal_modules()
deps.nfse_certificate.certificate()
after_certificate = fiscal_modules()
from chalicelib.fiscal import schemas

complaints = schemas.validate("<DPS xmlns='http://www.sped.fazenda.gov.br/nfse'/>", "DPS")
print(json.dumps({"statuses": statuses, "after_api": after_api, "after_container": after_container,
                  "after_certificate": after_certificate, "after_validation": fiscal_modules(),
                  "complaints": len(complaints)}))
"""


def _tops(modules):
    return {m.split(".")[0] if not m.startswith("chalicelib.fiscal") else "chalicelib.fiscal" for m in modules}


def test_an_api_request_loads_no_fiscal_library_and_only_the_signing_path_does(deps):
    env = {**os.environ, "PYTHONPATH": PROJECT_DIR, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-c", LOADING_SCRIPT], cwd=PROJECT_DIR, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout.strip().splitlines()[-1])
    assert run["statuses"] == [200, 401]
    # The API's requests and the container's build (every Lambda's first request) load none of it.
    assert run["after_api"] == [] and run["after_container"] == []
    # Reading the A1 (the first step of every emission or cancellation) needs the signing module.
    assert {"chalicelib.fiscal", "lxml"} <= _tops(run["after_certificate"])
    # Checking a DPS brings the layout's bindings and XSDs, and it is checked for real.
    assert _tops(run["after_validation"]) == {"chalicelib.fiscal", *FISCAL_LIBRARIES}
    assert run["complaints"] > 0


def _secret_reads():
    """GetSecretValue calls made through boto3's default session (the adapter's), from now on."""
    calls = []
    boto3._get_default_session().events.register(
        "provide-client-params.secrets-manager.GetSecretValue", lambda **kwargs: calls.append(kwargs["params"]["SecretId"]))
    return calls


@pytest.fixture
def secret_reads():
    boto3.setup_default_session()  # a session whose clients all carry the hook below
    yield _secret_reads()
    boto3.DEFAULT_SESSION = None


def test_the_secret_is_read_once_per_container_on_the_first_use(deps, secret_reads):
    container = bootstrap.build(deps.settings)
    assert secret_reads == []  # nothing at start
    first = container.nfse_certificate.certificate()
    again = [container.nfse_certificate.certificate() for _ in range(3)]
    assert secret_reads == [deps.settings.nfse_certificate_secret]
    assert all(c is first for c in again)
    assert first.cnpj == deps.settings.beneficiary_cnpj
    # A new container (a recycled Lambda) reads it again: how a renewed certificate is picked up.
    bootstrap.build(deps.settings).nfse_certificate.certificate()
    assert len(secret_reads) == 2


def _put(deps, value: str) -> None:
    boto3.client("secretsmanager", region_name=deps.settings.region).put_secret_value(
        SecretId=deps.settings.nfse_certificate_secret, SecretString=value)


def _leaks(text: str, pkcs12: bytes, password: str) -> list:
    """Any trace of the secret in `text`: the password, or a stretch of the PKCS#12's base64."""
    encoded = base64.b64encode(pkcs12).decode("ascii")
    found = [password] if password in text else []
    found += [encoded[i:i + 16] for i in range(0, len(encoded) - 16, 16) if encoded[i:i + 16] in text]
    return found


@pytest.mark.parametrize("case", ["wrong_password", "not_base64", "not_json", "placeholder", "missing_key",
                                  "missing_secret"])
def test_a_certificate_that_cannot_be_read_is_named_never_quoted(deps, caplog, case):
    pkcs12, password = demo_a1(deps.settings.beneficiary_cnpj)
    encoded = base64.b64encode(pkcs12).decode("ascii")
    secret_id = deps.settings.nfse_certificate_secret
    values = {
        "wrong_password": json.dumps({"pkcs12_base64": encoded, "password": password + "-old"}),
        "not_base64": json.dumps({"pkcs12_base64": encoded[:-7] + "*not*64", "password": password}),
        "not_json": f"pkcs12_base64={encoded} password={password}",
        "placeholder": json.dumps({"pkcs12_base64": "", "password": ""}),
        "missing_key": json.dumps({"pfx": encoded, "password": password}),
    }
    if case == "missing_secret":
        secret_id = "csp-portal/no-such-secret"
    else:
        _put(deps, values[case])
    caplog.set_level(logging.DEBUG)
    reader = SecretsManagerCertificate(secret_id, deps.settings.region)
    with pytest.raises(CertificateUnavailable) as refused:
        reader.certificate()
    error = refused.value
    assert secret_id in str(error)  # the operator learns which secret to fix
    if case == "placeholder":
        assert "placeholder" in str(error)
    everything = " ".join([str(error), repr(error), str(error.__cause__ or ""), str(error.__context__ or ""),
                           repr(reader), caplog.text])
    assert _leaks(everything, pkcs12, password) == [] and _leaks(everything, pkcs12, password + "-old") == []


def test_no_repr_of_the_container_or_the_certificate_shows_the_secret(deps):
    pkcs12, password = demo_a1(deps.settings.beneficiary_cnpj)
    _put(deps, secret_value(pkcs12, password))
    container = bootstrap.build(deps.settings)
    certificate = container.nfse_certificate.certificate()
    shown = " ".join([repr(container), str(container), repr(container.nfse_certificate), repr(certificate),
                      repr(container.settings), repr(container.nfse_emitter)])
    assert _leaks(shown, pkcs12, password) == []
    key_pem = certificate.private_key_pem().decode("ascii")
    assert key_pem.splitlines()[1] not in shown  # nor the private key


class _RecordingSefin:
    """Stands in for adapters/sefin_nacional.py's class (written apart): records how it is built."""

    built = []

    def __init__(self, base_url, certificate, *, timeout_seconds=20, attempts=3, backoff_seconds=1.0,
                 ca_bundle=None, sleep=None):
        self.built.append(dict(base_url=base_url, certificate=certificate, timeout_seconds=timeout_seconds,
                               ca_bundle=ca_bundle))


@pytest.fixture
def no_network(monkeypatch):
    def refuse(self, address):
        raise AssertionError(f"network touched at start: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_the_sefin_provider_is_wired_with_the_settings_and_the_certificate_s_reader(deps, monkeypatch, tmp_path,
                                                                                     secret_reads, no_network):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    module = types.ModuleType("chalicelib.adapters.sefin_nacional")
    module.SefinNacionalEmitter = _RecordingSefin
    monkeypatch.setitem(sys.modules, "chalicelib.adapters.sefin_nacional", module)
    _RecordingSefin.built.clear()
    settings = from_environ({**os.environ, "NFSE_PROVIDER": "sefin", "NFSE_MUNICIPAL_REGISTRATION": "9876543",
                                         "NFSE_API_URL": "https://sefin.example.test/api",
                             "NFSE_TIMEOUT_SECONDS": "7", "NFSE_CA_BUNDLE": str(bundle)})
    container = bootstrap.build(settings)
    assert isinstance(container.nfse_emitter, _RecordingSefin)
    [built] = _RecordingSefin.built
    assert built["base_url"] == "https://sefin.example.test/api"
    assert (built["timeout_seconds"], built["ca_bundle"]) == (7.0, str(bundle))
    # The container's own reader, handed uncalled: the secret is read on the first note, once.
    assert built["certificate"] == container.nfse_certificate.certificate
    assert secret_reads == []


def test_the_real_sefin_adapter_builds_without_the_network_or_the_secret(deps, no_network, secret_reads):
    sefin = pytest.importorskip("chalicelib.adapters.sefin_nacional", reason="the Sefin adapter is written apart")
    settings = from_environ({**os.environ, "NFSE_PROVIDER": "sefin", "NFSE_MUNICIPAL_REGISTRATION": "9876543"})
    container = bootstrap.build(settings)
    assert isinstance(container.nfse_emitter, sefin.SefinNacionalEmitter)
    assert secret_reads == []
    pkcs12, password = demo_a1(deps.settings.beneficiary_cnpj)
    assert _leaks(repr(container.nfse_emitter), pkcs12, password) == []


def test_the_simulator_in_the_prod_stage_starts_with_a_loud_warning(deps, caplog):
    caplog.set_level(logging.WARNING, logger="chalicelib.bootstrap")
    bootstrap.build(from_environ({**prod_stage_environ(os.environ), "CSP_STAGE": "prod"}))
    [warning] = [r for r in caplog.records if r.name == "chalicelib.bootstrap" and "NFSE_PROVIDER" in r.getMessage()]
    assert warning.levelno == logging.WARNING and "SEM VALOR FISCAL" in warning.getMessage()
    caplog.clear()
    bootstrap.build(deps.settings)  # dev: the simulator is the expected default
    assert not [r for r in caplog.records if r.name == "chalicelib.bootstrap"]
