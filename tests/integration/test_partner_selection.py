"""Which bank and licence provider a container talks to: the simulators unless `BANK_PROVIDER=real` /
`LICENCE_PROVIDER=real`, which wire Banco do Brasil's API Cobranças and Partner Center with their
credentials' secrets named, never read at start (no Secrets Manager call, no network); a prod stack
on a simulator says so loudly; a bank the real adapter does not speak stops the start."""
from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
import types
from pathlib import Path

import boto3
import pytest

from chalicelib import bootstrap
from chalicelib.adapters.bank import SimulatedBank
from chalicelib.adapters.licence_provider import SimulatedLicenseProvider
from chalicelib.adapters.secrets import JsonSecret, SecretUnavailable
from chalicelib.settings import from_environ
from tests.support import prod_stage_environ

PROJECT_DIR = Path(__file__).resolve().parents[2]
INFRA = json.loads((PROJECT_DIR / "infra" / "resources.json").read_text(encoding="utf-8"))["Resources"]


@pytest.fixture
def secrets_manager_calls():
    """Every Secrets Manager call made through boto3's default session (JsonSecret's), from now on."""
    calls = []
    boto3.setup_default_session()  # a session whose clients all carry the hook below
    boto3._get_default_session().events.register(
        "provide-client-params.secrets-manager",
        lambda params, model, **_: calls.append((model.name, params.get("SecretId"))))
    yield calls
    boto3.DEFAULT_SESSION = None


@pytest.fixture
def no_network(monkeypatch):
    def refuse(self, address):
        raise AssertionError(f"network touched at start: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


class _Recording:
    """Stands in for a real adapter's class (written apart): records how bootstrap builds it."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


def _stub(monkeypatch, module_name, class_name):
    module = types.ModuleType(module_name)
    recording = type(class_name, (_Recording,), {})
    setattr(module, class_name, recording)
    monkeypatch.setitem(sys.modules, module_name, module)
    return recording


def _bootstrap_warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "chalicelib.bootstrap" and r.levelno >= logging.WARNING]


def test_the_simulators_are_the_default_of_the_tests_and_of_a_stage_that_names_none(deps):
    assert isinstance(deps.bank, SimulatedBank) and isinstance(deps.licence_provider, SimulatedLicenseProvider)
    assert (from_environ({}).bank_provider, from_environ({}).licence_provider) == ("simulated", "simulated")
    # `make run` and the dev stage take the default; prod takes the stack's parameters (infra/): a
    # value here would be the function's own and silently win over the parameter.
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text(encoding="utf-8"))
    for stage in config["stages"].values():
        variables = {**config.get("environment_variables", {}), **stage.get("environment_variables", {})}
        assert not {"BANK_PROVIDER", "LICENCE_PROVIDER"} & set(variables)


def test_bank_provider_real_wires_banco_do_brasil_with_its_secret_named_and_unread(deps, monkeypatch,
                                                                                  secrets_manager_calls, no_network):
    recording = _stub(monkeypatch, "chalicelib.adapters.bb_cobranca", "BancoDoBrasilCobranca")
    settings = from_environ({**os.environ, "BANK_PROVIDER": "real", "BANK_CREDENTIALS_SECRET": "csp/bb-test",
                             "BOLETO_BB_CONVENIO": "7654321", "BOLETO_BB_CARTEIRA": "17"})
    container = bootstrap.build(settings)
    assert isinstance(container.bank, recording)
    api, credentials = container.bank.args
    assert api is settings.bank_api
    assert isinstance(credentials, JsonSecret) and credentials.secret_id == "csp/bb-test"
    assert container.bank.kwargs == {"convenio": "7654321", "carteira": "17"}
    assert isinstance(container.licence_provider, SimulatedLicenseProvider)  # each partner on its own setting
    assert secrets_manager_calls == []


def test_licence_provider_real_wires_partner_center_with_its_secret_named_and_unread(deps, monkeypatch,
                                                                                    secrets_manager_calls, no_network):
    recording = _stub(monkeypatch, "chalicelib.adapters.partner_center", "PartnerCenter")
    settings = from_environ({**os.environ, "LICENCE_PROVIDER": "real",
                             "PARTNER_CENTER_CREDENTIALS_SECRET": "csp/pc-test"})
    container = bootstrap.build(settings)
    assert isinstance(container.licence_provider, recording)
    api, credentials = container.licence_provider.args
    assert api is settings.partner_center
    assert isinstance(credentials, JsonSecret) and credentials.secret_id == "csp/pc-test"
    assert isinstance(container.bank, SimulatedBank)
    assert secrets_manager_calls == []


def test_the_real_bank_adapter_builds_without_the_network_or_the_secret(deps, secrets_manager_calls, no_network):
    bb = pytest.importorskip("chalicelib.adapters.bb_cobranca", reason="the bank's adapter is written apart")
    container = bootstrap.build(from_environ({**os.environ, "BANK_PROVIDER": "real"}))
    assert isinstance(container.bank, bb.BancoDoBrasilCobranca)
    assert secrets_manager_calls == []


def test_the_real_partner_center_adapter_builds_without_the_network_or_the_secret(deps, secrets_manager_calls,
                                                                                  no_network):
    pc = pytest.importorskip("chalicelib.adapters.partner_center", reason="Partner Center's adapter is written apart")
    container = bootstrap.build(from_environ({**os.environ, "LICENCE_PROVIDER": "real"}))
    assert isinstance(container.licence_provider, pc.PartnerCenter)
    assert secrets_manager_calls == []


def test_the_real_bank_with_a_bank_it_does_not_speak_refuses_to_start_naming_the_setting(deps, monkeypatch,
                                                                                       secrets_manager_calls):
    recording = _stub(monkeypatch, "chalicelib.adapters.bb_cobranca", "BancoDoBrasilCobranca")
    built = []
    monkeypatch.setattr(recording, "__init__", lambda self, *a, **k: built.append(a))
    settings = from_environ({**os.environ, "BANK_PROVIDER": "real", "BOLETO_BANK": "itau"})
    with pytest.raises(RuntimeError, match=r"BOLETO_BANK='itau'.*BOLETO_BANK=bb"):
        bootstrap.build(settings)
    assert built == [] and secrets_manager_calls == []


def test_a_prod_stack_on_a_simulator_starts_with_a_loud_warning_per_partner(deps, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="chalicelib.bootstrap")
    bootstrap.build(from_environ({**prod_stage_environ(os.environ), "CSP_STAGE": "prod"}))
    warnings = _bootstrap_warnings(caplog)
    [bank] = [w for w in warnings if w.startswith("BANK_PROVIDER=simulated")]
    [licences] = [w for w in warnings if w.startswith("LICENCE_PROVIDER=simulated")]
    assert "NOBODY CAN PAY THEM" in bank and "csp-portal/bank-credentials" in bank and "BANK_PROVIDER=real" in bank
    assert "NOT BOUGHT AT MICROSOFT" in licences and "csp-portal/partner-center" in licences
    assert "LICENCE_PROVIDER=real" in licences
    assert all("Parceiros reais: do simulador ao real" in w for w in (bank, licences))

    # A partner switched to real no longer warns; the other still does.
    caplog.clear()
    _stub(monkeypatch, "chalicelib.adapters.bb_cobranca", "BancoDoBrasilCobranca")
    bootstrap.build(from_environ({**prod_stage_environ(os.environ), "CSP_STAGE": "prod", "BANK_PROVIDER": "real"}))
    warnings = _bootstrap_warnings(caplog)
    assert not [w for w in warnings if w.startswith("BANK_PROVIDER")]
    assert [w for w in warnings if w.startswith("LICENCE_PROVIDER=simulated")]

    # dev (make run, the tests): the simulators are the expected default, and nothing is said.
    caplog.clear()
    bootstrap.build(deps.settings)
    assert _bootstrap_warnings(caplog) == []


def _infra_placeholder(logical_name):
    """The secret's value as infra/resources.json creates it (the bank's token as CloudFormation makes one)."""
    properties = INFRA[logical_name]["Properties"]
    if "SecretString" in properties:
        return properties["SecretString"]
    generated = properties["GenerateSecretString"]
    return json.dumps({**json.loads(generated["SecretStringTemplate"]),
                       generated["GenerateStringKey"]: "Q" * generated["PasswordLength"]})


@pytest.mark.parametrize("setting, logical_name, filled", [
    ("BANK_PROVIDER", "BankCredentialsSecret",
     {"client_id": "eyJpZCI6ImNsaWVudCJ9", "client_secret": "s3cr3t-do-banco", "developer_application_key": "d27b1"}),
    ("LICENCE_PROVIDER", "PartnerCenterCredentialsSecret",
     {"tenant_id": "2f4a0e3c-0000-4000-8000-1234567890ab", "app_id": "app-1", "app_secret": "s3cr3t-do-app",
      "refresh_token": "0.ARrefresh"}),
])
def test_infra_s_placeholder_is_refused_by_the_secret_s_name_and_the_filled_secret_is_read_on_first_use(
        deps, monkeypatch, secrets_manager_calls, setting, logical_name, filled):
    """What bootstrap hands the real adapter asks for exactly the keys infra/'s placeholder has: the
    placeholder reads as "still the placeholder", naming the keys and never a value; once the
    reseller puts the values in (README), they are read on the first use, once."""
    module, name = (("chalicelib.adapters.bb_cobranca", "BancoDoBrasilCobranca") if setting == "BANK_PROVIDER"
                    else ("chalicelib.adapters.partner_center", "PartnerCenter"))
    _stub(monkeypatch, module, name)
    secret_name = INFRA[logical_name]["Properties"]["Name"]
    placeholder = _infra_placeholder(logical_name)
    client = boto3.client("secretsmanager", region_name=deps.settings.region)
    client.create_secret(Name=secret_name, SecretString=placeholder)
    container = bootstrap.build(from_environ({**os.environ, setting: "real"}))
    adapter = container.bank if setting == "BANK_PROVIDER" else container.licence_provider
    _, credentials = adapter.args
    assert credentials.secret_id == secret_name and secrets_manager_calls == [("CreateSecret", None)]

    with pytest.raises(SecretUnavailable) as refused:
        credentials.values()
    message = str(refused.value)
    assert secret_name in message and "placeholder" in message
    assert set(json.loads(placeholder)) - {"webhook_token"} == set(filled)
    assert all(key in message for key in filled) and "Q" * 8 not in message  # the generated token is not quoted

    client.put_secret_value(SecretId=secret_name, SecretString=json.dumps({**json.loads(placeholder), **filled}))
    credentials.forget()
    secrets_manager_calls.clear()
    assert [credentials.values() for _ in range(3)][-1] == {**json.loads(placeholder), **filled}
    assert secrets_manager_calls == [("GetSecretValue", secret_name)]
    assert secret_name in repr(credentials) and not any(value in repr(credentials) for value in filled.values())


def test_the_readme_s_switch_names_the_settings_secrets_and_keys_the_product_has():
    """The reseller follows README's "Parceiros reais: do simulador ao real" by hand: each variable it
    names is one the settings read, and each secret is infra's with its keys."""
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Parceiros reais: do simulador ao real\n", 1)[1].split("\n## ", 1)[0]
    settings_source = (PROJECT_DIR / "chalicelib" / "settings.py").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:BANK|BOLETO|PARTNER_CENTER|LICENCE|LATE|BENEFICIARY)_[A-Z_]+)`", section))
    assert {"BANK_PROVIDER", "LICENCE_PROVIDER", "BANK_API_URL", "PARTNER_CENTER_API_URL"} <= named
    assert [v for v in sorted(named) if f'"{v}"' not in settings_source] == []
    for logical_name in ("BankCredentialsSecret", "PartnerCenterCredentialsSecret"):
        [row] = [line for line in section.splitlines()
                 if line.startswith(f"| `{INFRA[logical_name]['Properties']['Name']}` |")]
        assert set(re.findall(r"`([a-z_]+)`", row.split("|")[2])) == set(json.loads(_infra_placeholder(logical_name)))
    assert "#parceiros-reais-do-simulador-ao-real" in readme and "#nfs-e-do-simulador-para-a-emissão-real" in section
