"""An integrator's path: generate a Python client from the running stack's /openapi.json with
openapi-python-client (a dev dependency; nothing is downloaded) and use it — log in, read the
licence panel, read an invoice with its lines — through typed models, not dicts."""
import importlib
import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests

pytest.importorskip("openapi_python_client", reason="openapi-python-client is installed by requirements-dev.txt")

pytestmark = pytest.mark.xdist_group("generated_client")
PACKAGE = "csp_portal_client"


@pytest.fixture(scope="module")
def stack_and_client(tmp_path_factory):
    from tests.e2e.conftest import start_stack

    var_dir = tmp_path_factory.mktemp("client-stack")
    api, process = start_stack(var_dir)
    workdir = tmp_path_factory.mktemp("generated")
    (workdir / "openapi.json").write_text(requests.get(f"{api}/openapi.json").text)
    bin_dir = Path(sys.executable).parent  # the generator formats its output with this venv's ruff
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    generated = subprocess.run(
        [str(bin_dir / "openapi-python-client"), "generate", "--path", "openapi.json", "--meta", "none",
         "--output-path", PACKAGE], cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    sys.path.insert(0, str(workdir))
    try:
        yield api, var_dir, importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(workdir))
        process.kill()


def _module(name: str):
    return importlib.import_module(f"{PACKAGE}.{name}")


def _sign_in(client_package, api, email_address, password, mfa_secret=None):
    from tests.support import totp_code

    login = _module("api.auth.post_auth_login")
    body = _module("models").PostAuthLoginBody(email=email_address, password=password)
    tokens = login.sync(client=client_package.Client(base_url=api), body=body)
    if isinstance(tokens, _module("models").MfaChallenge):  # an account enrolled in MFA: its code next
        answer = _module("api.auth.post_auth_mfa")
        tokens = answer.sync(client=client_package.Client(base_url=api), body=_module("models").PostAuthMfaBody(
            email=email_address, session=tokens.session, code=totp_code(mfa_secret)))
    assert isinstance(tokens, _module("models").Tokens), tokens
    return client_package.AuthenticatedClient(base_url=api, token=tokens.access_token)


def test_a_generated_client_logs_in_reads_the_panel_and_an_invoice_with_its_lines(stack_and_client):
    api, var_dir, client_package = stack_and_client
    models = _module("models")
    demo = {a["email"]: a for a in json.loads((var_dir / "demo-accounts.json").read_text())["accounts"]}
    operator_account = next(a for a in demo.values() if a["roles"] == ["operator"])
    billed = demo["master@oficinadigital.example"]
    master = _sign_in(client_package, api, billed["email"], billed["password"], billed["mfa_secret"])

    panel = _module("api.subscriptions.get_subscriptions").sync(client=master)
    assert isinstance(panel, models.SubscriptionPage)
    assert panel.items and all(isinstance(s, models.Subscription) for s in panel.items)
    assert {s.sku for s in panel.items} and all(isinstance(s.quantity, int) for s in panel.items)

    # The operator bills the period that closed on the last 20th (the demo customer's closing day).
    operator = _sign_in(client_package, api, operator_account["email"], operator_account["password"],
                        operator_account["mfa_secret"])
    today = date.today()
    closing = today.replace(day=20) if today.day > 20 else (today.replace(day=1) - timedelta(days=1)).replace(day=20)
    started = _module("api.backoffice.post_backoffice_billing_runs").sync(
        client=operator, body=models.PostBackofficeBillingRunsBody(period=f"{closing:%Y-%m}"))
    progress_of = _module("api.backoffice.get_backoffice_billing_runs_run_id")
    from tests.e2e.test_local_stack import MONTH_RUN_SECONDS, wait_for

    wait_for(lambda: (lambda p: p.complete and p.contracts_queued)(progress_of.sync(started.run_id, client=operator)),
             seconds=MONTH_RUN_SECONDS)

    invoices = _module("api.invoices.get_invoices").sync(client=master)
    assert isinstance(invoices, models.InvoiceSummaryPage)
    [summary] = [i for i in invoices.items if i.period_end == closing]
    invoice = _module("api.invoices.get_invoices_invoice_id").sync(summary.id, client=master)
    assert isinstance(invoice, models.Invoice) and invoice.total_cents == summary.total_cents > 0
    assert invoice.lines and all(isinstance(line, models.InvoiceLine) for line in invoice.lines)
    assert sum(line.amount_cents for line in invoice.lines) == invoice.total_cents
    assert isinstance(invoice.due_date, date)
