"""What the on-call reads: JSON log lines carrying one correlation id per piece of work (an API
request, a contract of a billing run) from the request through the queues to the email sent, and
no personal data or secret anywhere in the log of a full flow."""
from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Dict, List

import boto3
import pytest

from chalicelib import observability
from chalicelib.domain.clock import FixedClock
from chalicelib.domain.roles import Role
from tests.support import PASSWORD, sp, totp_code

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
WRONG_PASSWORD = "Errada#Senha2026"


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


@pytest.fixture
def logs(caplog, capsys):
    """Every log record (the product's loggers at DEBUG, the rest at INFO) and every line written
    to stdout (Powertools' JSON lines and EMF metrics), read at the end of the test."""
    caplog.set_level(logging.INFO)
    for name in observability.PRODUCT_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return _Logs(caplog, capsys)


class _Logs:
    def __init__(self, caplog, capsys):
        self._caplog, self._capsys, self._stdout = caplog, capsys, ""

    def read(self) -> None:
        self._stdout += self._capsys.readouterr().out

    def json_lines(self) -> List[Dict]:
        self.read()
        return [json.loads(line) for line in self._stdout.splitlines() if line.startswith("{")]

    def lines(self, name: str) -> List[Dict]:
        """The JSON log lines of the stdlib logger `name`."""
        return [line for line in self.json_lines() if line.get("name") == name]

    def everything(self) -> str:
        """All that was logged: each record's message and traceback, and all of stdout."""
        self.read()
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        return "\n".join([formatter.format(r) for r in self._caplog.records] + [self._stdout])


def _customer(world, name: str):
    org = world.organization(name=name, closing_day=10)
    world.seed_catalog()
    world.accept_contract(org)
    world.subscription(org, "MS365-E3", 10)
    return org


def _formatted_cnpj(digits: str) -> str:
    return f"{digits[:2]}.{digits[2:5]}.{digits[5:8]}/{digits[8:12]}-{digits[12:]}"


def test_a_full_billing_flow_logs_one_correlation_id_per_contract_and_no_personal_data(world, clock, logs):
    alfa = _customer(world, "Alfa Sistemas de Gestão Ltda")
    beta = _customer(world, "Beta Comércio Eletrônico S.A.")
    world.drain_queues()  # their licences provisioned
    clock.now = sp(2026, 11, 11, 9)
    operator = world.operator()

    # Around the run: a failed login, an MFA login, a ticket.
    assert world.call("POST", "/auth/login", body={"email": alfa.master.user.email,
                                                   "password": WRONG_PASSWORD}).status_code == 401
    enrolling = world.organization(name="Gama Consultoria Ltda", mfa_enrolled=False)
    secret = world.enrol(enrolling.master.headers)
    challenge = world.call("POST", "/auth/login", body={"email": enrolling.master.user.email, "password": PASSWORD})
    assert challenge.json_body["challenge"] == "SOFTWARE_TOKEN_MFA"
    tokens = world.call("POST", "/auth/mfa", body={"email": enrolling.master.user.email,
                                                   "session": challenge.json_body["session"], "code": totp_code(secret)})
    assert tokens.status_code == 200
    support = world.user(alfa.id, [Role.SUPORTE])
    assert world.call("POST", "/tickets", support, {
        "subject": "Teams pede senha", "category": "acesso", "severity": "alta",
        "description": "Desde ontem o Teams pede a senha de novo."}).status_code == 201

    assert world.call("POST", "/backoffice/billing-runs", operator, {"period": "2026-11"}).status_code == 202
    world.drain_queues()

    invoices = {org.id: world.deps.invoices.invoice_for_period(org.id, sp(2026, 11, 10).date())
                for org in (alfa, beta)}
    assert all(invoice is not None and invoice.boletos and invoice.nfse for invoice in invoices.values())

    # (a) One correlation id per contract: the billing worker's lines and the email worker's lines
    # for that contract's emails, and the emails themselves, carry it; each contract its own.
    worker, mailer = logs.lines("csp_portal.jobs.billing"), logs.lines("csp_portal.jobs.email")
    ids = {}
    for org_id, invoice in invoices.items():
        billing_ids = {line["correlation_id"] for line in worker if f"contract {org_id}," in line["message"]}
        email_ids = {line["correlation_id"] for line in mailer if f"#{invoice.id}" in line["message"]}
        assert len(billing_ids) == 1, billing_ids
        assert email_ids == billing_ids, (email_ids, billing_ids)
        assert any(f"invoice_issued#{invoice.id} sent" in line["message"] for line in mailer)
        [cid] = billing_ids
        ids[org_id] = cid
        sent = [m for m in world.outbox() if m["X-Correlation-Id"] == cid]
        assert sent and {m["To"] for m in sent} == set(world.deps.contracts.get(org_id).billing_contacts)
    assert len(set(ids.values())) == 2
    # Every line of the flow carries an id, and the JSON lines carry what the on-call filters by.
    for line in logs.json_lines():
        if "message" in line:
            assert line["correlation_id"] and line["service"] == "csp-portal" and line["level"] and line["location"]

    # (b) No personal data or secret in any line.
    text = logs.everything()
    assert text.count("\n") > 20  # the flow did log (the checks below are not vacuous)
    assert not EMAIL.findall(text)
    assert not JWT.findall(text)
    forbidden = [PASSWORD, WRONG_PASSWORD, secret, tokens.json_body["access_token"][-20:],
                 tokens.json_body["refresh_token"][-20:]]
    for org in (alfa, beta, enrolling):
        cnpj = org.organization.cnpj
        forbidden += [cnpj, _formatted_cnpj(cnpj), org.organization.name]
    for invoice in invoices.values():
        for boleto in invoice.boletos:
            forbidden += [boleto.digitable_line, boleto.barcode, re.sub(r"\D", "", boleto.digitable_line)]
    certificate = boto3.client("secretsmanager", region_name=world.deps.settings.region).get_secret_value(
        SecretId=world.deps.settings.nfse_certificate_secret)["SecretString"]
    forbidden += re.findall(r"[A-Za-z0-9+/]{40,}", certificate)[:5]  # the A1 certificate's key material
    leaked = [value for value in forbidden if value and value in text]
    assert not leaked, leaked


def test_an_api_request_s_correlation_id_comes_back_and_reaches_its_queued_work(world, logs):
    org = world.organization()
    support = world.user(org.id, [Role.SUPORTE])
    opened = world.call("POST", "/tickets", support, {
        "subject": "Licença some", "category": "licencas", "severity": "media",
        "description": "A licença sumiu."}, headers={"X-Correlation-Id": "abc-123"})
    assert opened.status_code == 201 and opened.headers["X-Correlation-Id"] == "abc-123"
    world.drain_queues()

    emails = logs.lines("csp_portal.jobs.email")
    assert emails and {line["correlation_id"] for line in emails} == {"abc-123"}
    assert {m["X-Correlation-Id"] for m in world.outbox()} == {"abc-123"}
    # Errors answer it too.
    refused = world.call("POST", "/tickets", support, {"subject": ""}, headers={"X-Correlation-Id": "abc-124"})
    assert refused.status_code == 400 and refused.headers["X-Correlation-Id"] == "abc-124"


@pytest.mark.parametrize("hostile", ["abc\n{\"level\": \"ERROR\", \"message\": \"forjada\"}", "a" * 500,
                                     "abc 123", "ção"])
def test_a_hostile_correlation_id_is_replaced_not_echoed_nor_logged(world, logs, hostile):
    org = world.organization()
    support = world.user(org.id, [Role.SUPORTE])
    opened = world.call("POST", "/tickets", support, {
        "subject": "Licença some", "category": "licencas", "severity": "media",
        "description": "A licença sumiu."}, headers={"X-Correlation-Id": hostile})
    assert opened.status_code == 201
    given = opened.headers["X-Correlation-Id"]
    assert given != hostile and uuid.UUID(given)
    world.drain_queues()
    assert {line["correlation_id"] for line in logs.lines("csp_portal.jobs.email")} == {given}
    assert hostile not in logs.everything()


def test_api_gateway_s_request_id_serves_when_the_caller_sends_none(world):
    org = world.organization()
    answer = world.call("GET", "/me", org.master)
    assert answer.status_code == 200 and observability.sane(answer.headers["X-Correlation-Id"])


def test_an_invocation_flushes_the_metrics_it_counted_as_one_emf_line_and_nothing_otherwise(world, clock, logs):
    org = _customer(world, "Delta Ltda")
    world.drain_queues()
    logs.read()
    clock.now = sp(2026, 11, 11, 9)
    assert world.call("POST", "/backoffice/billing-runs", world.operator(), {"period": "2026-11"}).status_code == 202
    world.drain_queues()

    emf = [line for line in logs.json_lines() if "_aws" in line]
    counted = {}
    for line in emf:
        [directive] = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == observability.NAMESPACE and line["service"] == observability.SERVICE
        for metric in directive["Metrics"]:
            value = line[metric["Name"]]
            counted[metric["Name"]] = counted.get(metric["Name"], 0) + (sum(value) if isinstance(value, list) else value)
    assert counted.get("InvoicesIssued") == 1
    assert counted.get("EmailsSent", 0) >= 1  # the invoice's email (and the NFS-e's)
    assert world.deps.invoices.invoice_for_period(org.id, sp(2026, 11, 10).date()) is not None


def test_no_x_ray_call_is_made_outside_lambda(world, monkeypatch):
    """Powertools' tracer is off outside Lambda: an API request, a queue and a partner's call send
    nothing to an X-Ray daemon."""
    from aws_xray_sdk.core.emitters.udp_emitter import UDPEmitter

    sent = []
    monkeypatch.setattr(UDPEmitter, "send_entity", lambda self, entity: sent.append(entity))
    org = world.organization()
    world.accept_contract(org)
    world.drain_queues()
    assert world.call("GET", "/subscriptions", org.master).status_code == 200
    assert sent == []


def test_partner_center_s_correlation_id_is_ours_when_a_guid_else_a_new_guid():
    ours = str(uuid.uuid4())
    for bound, expected in ((ours, ours), ("abc-123", None), (None, None)):
        observability.bind_correlation_id(bound)
        try:
            given = observability.partner_correlation_id()
        finally:
            observability.bind_correlation_id(None)
        assert str(uuid.UUID(given)) == given
        assert given == expected if expected else given != bound


CNPJ = "12345678000195"
PERSONAL = ("fulano@empresa.com.br", CNPJ, _formatted_cnpj(CNPJ))


def _product_output(logs) -> str:
    """What the product wrote (its JSON lines: message, exception, stack trace), as text."""
    return "\n".join(json.dumps(line, ensure_ascii=False) for line in logs.json_lines())


def test_an_exception_logged_with_its_traceback_shows_no_email_nor_cnpj(logs):
    observability.configure_logging()
    log = logging.getLogger("csp_portal.tests.scrub")
    try:
        raise ValueError(f"recusado: fulano@empresa.com.br, CNPJ {_formatted_cnpj(CNPJ)} ({CNPJ})")
    except ValueError:
        log.exception("a partner refused")

    [line] = logs.lines("csp_portal.tests.scrub")
    assert line["level"] == "ERROR" and line["exception_name"] == "ValueError"
    assert "Traceback" in line["exception"] and "recusado: <email>, CNPJ <número> (<número>)" in line["exception"]
    assert line["stack_trace"]["value"] == "recusado: <email>, CNPJ <número> (<número>)"
    assert not any(value in _product_output(logs) for value in PERSONAL)


def test_an_api_500_logs_its_traceback_scrubbed(world, logs, monkeypatch):
    from chalicelib.api import support

    def broken(_):
        raise RuntimeError(f"tabela recusou a chave lead#{CNPJ} de fulano@empresa.com.br")

    monkeypatch.setattr(support, "asdict", broken)
    answer = world.call("GET", "/support/contacts")

    assert answer.status_code == 500
    [line] = [line for line in logs.lines("csp_portal.api") if line["level"] == "ERROR"]
    assert line["message"] == "unhandled error on GET /support/contacts"
    assert "RuntimeError: tabela recusou a chave lead#<número> de <email>" in line["exception"]
    assert line["correlation_id"] == answer.headers[observability.HEADER]
    assert not any(value in _product_output(logs) for value in PERSONAL)


def test_a_lead_s_email_key_and_a_failed_batch_name_no_cnpj_nor_email(world, logs, monkeypatch):
    """A lead's delivery key holds its CNPJ: the worker's lines, the email already being sent by
    another worker, and what the failed batch raises (the Lambda runtime logs it, X-Ray keeps it,
    both out of the product's scrubbing) name neither it nor the address."""
    from chalicelib.jobs.email import EmailBatchFailed
    from chalicelib.services import notifications

    def message(key):
        return {"kind": "email", "template": "user_invited", "to": ["fulano@empresa.com.br"], "delivery_key": key,
                "context": {"user": {"name": "Pessoa", "email": "fulano@empresa.com.br"},
                            "organization": {"name": "Empresa"}, "role_labels": ["Adm"], "is_master": False,
                            "temporary_password": "Temp#1234567", "contract_items": [],
                            "portal_url": "http://portal.test", "office365_admin_url": "https://admin.microsoft.com"}}

    busy, failing = f"lead_received#{CNPJ}", f"lead_received#{CNPJ}#2"
    now = world.deps.clock()
    assert world.deps.email_deliveries.claim(busy, now, now + notifications.SENDING_CLAIM) == "claimed"
    with pytest.raises(notifications.DeliveryInProgress) as in_progress:
        notifications.deliver_email(world.deps, message(busy))
    assert CNPJ not in str(in_progress.value)

    def refuse(email):
        raise RuntimeError(f"SES: {email.to[0]} ({CNPJ}) throttled")

    monkeypatch.setattr(world.deps.mailer, "send", refuse)
    event = world.client.events.generate_sqs_event(
        message_bodies=[json.dumps(message(busy)), json.dumps(message(failing))],
        queue_name=world.deps.settings.email_queue_name)
    with pytest.raises(EmailBatchFailed) as failed:
        world.client.lambda_.invoke("deliver_emails", event)

    assert str(failed.value).startswith("2 of 2 emails not sent (SQS message ids: ")
    assert not any(value in str(failed.value) for value in PERSONAL)
    lines = logs.lines("csp_portal.jobs.email")
    assert [line["level"] for line in lines] == ["WARNING", "WARNING"]
    assert all("lead_received#<número>" in line["message"] for line in lines)
    assert not any(value in _product_output(logs) for value in PERSONAL)
    assert world.outbox() == []


def test_the_lambda_context_keys_end_with_the_invocation(logs):
    """Powertools' keys (function name, request id) are on an invocation's lines only: `make run`
    serves on threads, and a line written outside any invocation must not name an old request."""
    from chalice.app import LambdaFunctionEvent

    from local.event_pump import LambdaContext

    observability.configure_logging()
    log = logging.getLogger("csp_portal.tests.context")
    observability._with_lambda_context(LambdaFunctionEvent({}, LambdaContext("deliver_emails")),
                                       lambda event: log.info("inside"))
    log.info("outside")

    inside, outside = logs.lines("csp_portal.tests.context")
    assert inside["function_name"] == "deliver_emails" and "function_request_id" in inside
    assert not set(observability.LAMBDA_CONTEXT_KEYS) & set(outside)
