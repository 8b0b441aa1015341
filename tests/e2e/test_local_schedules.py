"""`DEMO_DATE=2026-12-21 DEMO_SPEED=… make run` as a newcomer would watch it: the app's own
schedules fire on the demo clock, the daily billing issues the demo customer's invoice, days of
demo time later the overdue job's reminder lands in the outbox; then a stop (Ctrl-C) and a start
on a later demo day: the invoices are still there, and the numbering goes on (no second nº 1)."""
import email
import json
import signal
import time
from email import policy

import pytest
import requests

from tests.e2e.conftest import STOP_SECONDS, api_login, start_stack

pytestmark = pytest.mark.xdist_group("local_schedules")

BILLED = "financeiro@oficinadigital.example"


def wait_for(predicate, seconds, what):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def emails_to(var_dir, address):
    """{subject slug: path} of the emails to `address` in the outbox (file names: stamp-to-subject)."""
    outbox = var_dir / "outbox"
    found = {}
    for path in sorted(outbox.glob(f"*-{address}-*.eml")) if outbox.exists() else []:
        found.setdefault(path.stem.split(f"-{address}-", 1)[1], []).append(path)
    return found


def invoice_emails(var_dir, number):
    return [p for slug, paths in emails_to(var_dir, BILLED).items() if slug.startswith(f"fatura-n-{number}-")
            for p in paths]


def text_of(path):
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    return message["Subject"], message.get_body(preferencelist=("plain",)).get_content()


def stop(process):
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=STOP_SECONDS) == 0


def login_when_the_clock_settles(api, account):
    """An MFA login needs the clock to run at human speed: after a fast-forward it does."""
    return {"Authorization": f"Bearer {api_login(api, account)['access_token']}"}


def test_the_demo_clock_bills_and_reminds_and_a_restart_keeps_every_invoice(tmp_path):
    var_dir = tmp_path
    api, process = start_stack(var_dir, {"DEMO_DATE": "2026-12-21", "DEMO_SPEED": "500000"}, "first.log")
    try:
        log = (var_dir / "first.log").read_text()
        assert "demo clock from 21/12/2026 00:00 (São Paulo), 500000× real time" in log
        assert "local-state.pickle (new demo data" in log and "make run-clean" in log
        # 21/12 at 00:10 in São Paulo the daily billing issues the invoice of the period closed on the 20th …
        [first_invoice] = wait_for(lambda: invoice_emails(var_dir, 1), 120, "the scheduled billing's invoice email")
        subject, _ = text_of(first_invoice)
        assert "Oficina Digital" in subject
        # … and, once its due date is past, the daily overdue job reminds the billing contact.
        reminders = wait_for(lambda: [p for slug, paths in emails_to(var_dir, BILLED).items()
                                      if not slug.startswith("fatura-n-") for p in paths],
                             180, "the overdue job's reminder")
        subject, text = text_of(reminders[0])
        assert "nº 1" in subject + text and "venc" in (subject + text).lower()
        stop(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert "Data saved to" in (var_dir / "first.log").read_text()
    assert (var_dir / "local-state.pickle").exists()
    demo = json.loads((var_dir / "demo-accounts.json").read_text())

    # Started again on a later demo day at real speed: the saved data is loaded (no new seed), the
    # clock goes from where it stopped to 22/01, firing every schedule on the way: January's billing.
    api, process = start_stack(var_dir, {"DEMO_DATE": "2027-01-22"}, "second.log")
    try:
        log = (var_dir / "second.log").read_text()
        assert "loaded from the last run" in log and "fast-forwarded to 22/01/2027 00:00" in log
        wait_for(lambda: "fast-forwarding the demo clock" in (var_dir / "second.log").read_text(), 180,
                 "the fast-forward to 22/01/2027")
        [second_invoice] = wait_for(lambda: invoice_emails(var_dir, 2), 30, "January's invoice email")
        assert len(invoice_emails(var_dir, 1)) == 1  # one nº 1, never two
        # The same logins work: password, MFA with the local TOTP secret.
        again = json.loads((var_dir / "demo-accounts.json").read_text())
        assert [a["email"] for a in again["accounts"]] == [a["email"] for a in demo["accounts"]]
        assert again["api"] == api
        master = login_when_the_clock_settles(api, next(a for a in again["accounts"] if a["email"] == "master@oficinadigital.example"))
        invoices = requests.get(f"{api}/invoices", headers=master).json()["items"]
        assert sorted(str(i["number"]) for i in invoices) == ["1", "2"]
        by_number = {str(i["number"]): i for i in invoices}
        assert by_number["1"]["period_end"] == "2026-12-20" and by_number["2"]["period_end"] == "2027-01-20"
        assert by_number["2"]["issued_at"] >= "2027-01-21"  # issued on the demo clock, which never went back
        stop(process)
    finally:
        if process.poll() is None:
            process.kill()
