"""`make smoke URL=…` (infra/smoke.py), run as make runs it: it passes against the local stack of
`make run`, and fails, naming the check, against a server that is not the portal or that answers
what the portal must refuse."""
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from local.run import PROJECT_DIR

SMOKE = [sys.executable, "infra/smoke.py"]


def smoke(url):
    return subprocess.run(SMOKE + [url], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120)


def test_the_local_stack_passes_every_check(stack):
    api, _, _ = stack

    result = smoke(api)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for check in ("openapi", "support-contacts", "portal-page", "portal-assets", "contract-needs-login", "cors"):
        assert any(line.startswith(f"PASS {check}:") for line in lines), result.stdout
    assert not any(line.startswith("FAIL") for line in lines)
    assert lines[-1] == f"smoke passed ({api})"


HEADERS = {"Content-Security-Policy": "default-src 'self'", "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer"}
PAGE = '<link rel="stylesheet" href="portal/assets/app.css"><script type="module" src="portal/assets/app.js"></script>'


def serve(answers, requests_seen):
    """A local http.server answering `answers[(method, path)] = (status, content type, body, headers)`
    and 200 "garbage" to anything else; every request's method and path go to `requests_seen`."""

    class Handler(BaseHTTPRequestHandler):
        def answer(self):
            requests_seen.append((self.command, self.path))
            status, content_type, body, headers = answers.get(
                (self.command, self.path), (200, "text/plain", "garbage", {}))
            payload = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_OPTIONS = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def seen():
    return []


@pytest.fixture
def server(seen):
    servers = []

    def start(answers):
        servers.append(serve(answers, seen))
        return f"http://127.0.0.1:{servers[-1].server_address[1]}"
    yield start
    for running in servers:
        running.shutdown()


def test_a_server_that_answers_garbage_fails_and_each_failed_check_is_named(server):
    result = smoke(server({}))

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    for check in ("openapi", "support-contacts", "portal-page", "portal-assets", "contract-needs-login",
                  "correlation-id"):
        assert any(line.startswith(f"FAIL {check}:") for line in lines), result.stdout
    # Every stage echoes the correlation id: one that does not is broken, not skipped.
    assert "FAIL correlation-id: the answer carries no X-Correlation-Id" in lines
    assert "FAIL openapi: Content-Type 'text/plain', not JSON" in lines
    assert lines[-1].startswith("smoke FAILED: openapi, support-contacts, portal-page")


def test_a_portal_that_lets_anyone_read_a_contract_or_any_origin_call_it_fails_those_checks(server, seen):
    paths = {path: {} for path in ("/contract", "/invoices", "/subscriptions", "/support/contacts",
                                   "/backoffice/billing-runs/{run_id}")}
    url = server({
        ("GET", "/openapi.json"): (200, "application/json", json.dumps({"openapi": "3.1.0", "paths": paths}), {}),
        ("GET", "/support/contacts"): (200, "application/json", "{}", {"X-Correlation-Id": "someone-else"}),
        ("GET", "/"): (200, "text/html; charset=utf-8", PAGE, HEADERS),
        ("GET", "/portal/assets/app.css"): (200, "text/css", "body{}", HEADERS),
        ("GET", "/portal/assets/app.js"): (200, "text/javascript", "1;", HEADERS),
        ("GET", "/contract"): (200, "application/json", '{"id": "c1"}', {}),
        ("OPTIONS", "/contract"): (200, "text/plain", "", {"Access-Control-Allow-Origin": "*"}),
    })

    result = smoke(url)

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("FAIL")] == [
        "FAIL contract-needs-login", "FAIL cors", "FAIL correlation-id"], result.stdout
    assert "FAIL contract-needs-login: status 200 without a token (expected 401)" in lines
    assert all(line.startswith("PASS") for line in lines[:4])
    # Read-only: safe against production.
    assert {method for method, _ in seen} == {"GET", "OPTIONS"}
    assert [path for method, path in seen if method == "OPTIONS"] == ["/contract"]


def test_without_a_url_make_smoke_says_what_it_needs():
    result = subprocess.run(["make", "-o", ".venv/.installed", "smoke"], cwd=PROJECT_DIR, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode != 0 and "URL is required" in result.stdout


def test_a_portal_under_a_path_loads_its_assets_and_modules_under_that_path(server, seen):
    """API Gateway's own URL (…/api) without the custom domain: the page links its assets relative to
    itself, and app.js imports its modules relative to itself, so everything loads under /api."""
    url = server({
        ("GET", "/api/"): (200, "text/html; charset=utf-8", PAGE, HEADERS),
        ("GET", "/api/portal/assets/app.css"): (200, "text/css", "body{}", HEADERS),
        ("GET", "/api/portal/assets/app.js"): (200, "text/javascript", 'import { h } from "./core.js";', HEADERS),
        ("GET", "/api/portal/assets/core.js"): (200, "text/javascript", "export const h = 1;", HEADERS),
    }) + "/api"

    result = smoke(url)

    [line] = [line for line in result.stdout.splitlines() if line.startswith("PASS portal-assets")]
    assert "app.css" in line and "app.js" in line and "core.js" in line
    assert ("GET", "/portal/assets/app.js") not in seen


def test_a_module_the_script_imports_that_is_missing_fails_the_assets_check(server):
    url = server({
        ("GET", "/"): (200, "text/html; charset=utf-8", PAGE, HEADERS),
        ("GET", "/portal/assets/app.css"): (200, "text/css", "body{}", HEADERS),
        ("GET", "/portal/assets/app.js"): (200, "text/javascript", 'import { h } from "./core.js";', HEADERS),
        ("GET", "/portal/assets/core.js"): (404, "application/json", "{}", {}),
    })

    result = smoke(url)

    assert result.returncode == 1
    assert any(line.startswith("FAIL portal-assets: /portal/assets/core.js: status 404") for line in result.stdout.splitlines())
