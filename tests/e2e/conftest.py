"""The local stack as `make run` starts it, for the end-to-end tests."""
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from local.run import PROJECT_DIR, free_port

# How long a stopped stack may take to finish the handler and the firing under way and save its
# data: a few seconds alone (the stack prints each step's time: "scheduler stopped (… s)").
STOP_SECONDS = 40


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def api_login(api, account):
    """The demo account's tokens over HTTP: its password, then, for an account enrolled in MFA, the
    code its TOTP secret gives now (demo-accounts.json carries it)."""
    from tests.support import totp_code

    answer = requests.post(f"{api}/auth/login", json={"email": account["email"], "password": account["password"]})
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    if tokens.get("challenge") == "SOFTWARE_TOKEN_MFA":
        answer = requests.post(f"{api}/auth/mfa", json={"email": account["email"], "session": tokens["session"],
                                                        "code": totp_code(account["mfa_secret"])})
        assert answer.status_code == 200, answer.text
        tokens = answer.json()
    return tokens


def start_stack(var_dir, extra_env=None, log_name="stack.log", sigint_ignored=False):
    """`python -m local.run` on free ports, writing under `var_dir` (with `extra_env`, e.g. a demo
    clock); returns (api url, process). `sigint_ignored`: started as a shell without job control
    starts `… &` (SIGINT inherited ignored)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "USER_POOL", "JWKS", "MAIL_COPY", "DEMO_"))}
    env.update({"CSP_VAR_DIR": str(var_dir), "PORT": str(port), "PYTHONUNBUFFERED": "1", **(extra_env or {})})
    # Output goes to a file: an unread pipe fills up after a few thousand log lines and then
    # blocks the server mid-request.
    log = open(var_dir / log_name, "w")
    process = subprocess.Popen([sys.executable, "-m", "local.run"], cwd=PROJECT_DIR, env=env,
                               stdout=log, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=_ignore_sigint if sigint_ignored else None)
    api = f"http://127.0.0.1:{port}"
    deadline = time.time() + 150
    while time.time() < deadline:
        try:
            if requests.get(f"{api}/support/contacts", timeout=5).status_code == 200:
                return api, process
        # Not listening yet, or listening but still starting up (a busy machine: the first answer
        # can take longer than a second).
        except (requests.ConnectionError, requests.Timeout):
            if process.poll() is not None:
                pytest.fail("make run exited early:\n" + (var_dir / log_name).read_text())
            time.sleep(0.3)
    process.kill()
    pytest.fail("make run did not serve within 150 s")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("var")
    api, process = start_stack(var_dir)
    yield api, var_dir, process
    if process.poll() is None:
        process.kill()


@pytest.fixture(autouse=True)
def answers_held_to_the_contract(monkeypatch):
    """Every answer the local stack gives these tests is checked against /openapi.json, as the
    in-process test client's are (tests/contract.py)."""
    from tests.contract import check_response, describes

    real_request = requests.sessions.Session.request

    def checked(session, method, url, *args, **kwargs):
        response = real_request(session, method, url, *args, **kwargs)
        path = requests.utils.urlparse(response.url).path
        # The API's answers; not the embedded AWS's (a presigned S3 link, moto's own endpoints).
        if requests.utils.urlparse(response.url).hostname == "127.0.0.1" and describes(method, path):
            content_type = response.headers.get("Content-Type")
            is_json = (content_type or "").startswith("application/json")
            check_response(method, path, response.status_code, content_type,
                           response.json() if is_json and response.content else response.text)
        return response

    monkeypatch.setattr(requests.sessions.Session, "request", checked)
