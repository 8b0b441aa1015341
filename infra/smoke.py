"""A read-only smoke test of a running stage: `make smoke URL=https://api.example` (or the local
stack's http://127.0.0.1:8000). It only reads (GET, plus one CORS preflight OPTIONS), so it is safe
against production; one line per check, exit 0 when every check passes, 1 otherwise.

Usage: python infra/smoke.py URL   (requests only; URL is the API's base, with API Gateway's stage
path when there is no custom domain, e.g. https://abc.execute-api.sa-east-1.amazonaws.com/api)
"""
from __future__ import annotations

import re
import sys
import uuid
from typing import Callable, List, Tuple
from urllib.parse import urljoin, urlparse

import requests

TIMEOUT = 15
# Paths the product's API must describe: if /openapi.json lacks them, this is not the portal's API.
PRODUCT_PATHS = ("/contract", "/invoices", "/subscriptions", "/support/contacts", "/backoffice/billing-runs/{run_id}")
# What the portal's page and assets carry (chalicelib/api/portal.py SECURITY_HEADERS).
SECURITY_HEADERS = {"Content-Security-Policy": "default-src 'self'", "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer"}
FOREIGN_ORIGIN = "https://smoke-test.invalid"


class Failed(Exception):
    pass


def expect(condition, message: str) -> None:
    if not condition:
        raise Failed(message)


def json_of(response) -> object:
    expect(response.headers.get("Content-Type", "").startswith("application/json"),
           f"Content-Type {response.headers.get('Content-Type')!r}, not JSON")
    try:
        return response.json()
    except ValueError:
        raise Failed("the body is not valid JSON")


class Smoke:
    def __init__(self, base: str, session=None):
        self.base = base.rstrip("/")
        self.http = session or requests.Session()
        self.page = ""

    def get(self, path: str, **kwargs):
        return self.http.get(self.base + path, timeout=TIMEOUT, allow_redirects=False, **kwargs)

    def openapi(self) -> str:
        response = self.get("/openapi.json")
        expect(response.status_code == 200, f"status {response.status_code}")
        spec = json_of(response)
        expect(isinstance(spec, dict) and isinstance(spec.get("paths"), dict), "no paths in the description")
        missing = [path for path in PRODUCT_PATHS if path not in spec["paths"]]
        expect(not missing, f"the product's paths are missing: {', '.join(missing)}")
        return f"{len(spec['paths'])} paths, OpenAPI {spec.get('openapi', '?')}"

    def support_contacts(self) -> str:
        response = self.get("/support/contacts")
        expect(response.status_code == 200, f"status {response.status_code}")
        expect(isinstance(json_of(response), dict), "not a JSON object")
        return "200"

    def portal_page(self) -> str:
        response = self.get("/")
        expect(response.status_code == 200, f"status {response.status_code}")
        expect(response.headers.get("Content-Type", "").startswith("text/html"),
               f"Content-Type {response.headers.get('Content-Type')!r}, not HTML")
        self.page = response.text
        self.headers_of(response)
        return "200 text/html with its security headers"

    def headers_of(self, response) -> None:
        for name, value in SECURITY_HEADERS.items():
            expect(value in response.headers.get(name, ""), f"{name} is {response.headers.get(name)!r}")

    def portal_assets(self) -> str:
        expect(self.page, "no portal page to read the assets from")
        assets = re.findall(r'(?:src|href)="(/?portal/assets/[^"]+)"', self.page)
        kinds = {asset.rsplit(".", 1)[-1] for asset in assets}
        expect({"js", "css"} <= kinds, f"the page links no script and stylesheet (found {assets})")
        page_url = self.base + "/"
        fetched = []
        queue = [urljoin(page_url, asset) for asset in assets]
        while queue:
            url = queue.pop(0)
            if url in fetched:
                continue
            fetched.append(url)
            # Fetched where a browser would: relative to the page, and each module the script imports
            # relative to the script.
            response = self.http.get(url, timeout=TIMEOUT, allow_redirects=False)
            name = urlparse(url).path
            expect(response.status_code == 200, f"{name}: status {response.status_code}")
            wanted = "javascript" if name.endswith(".js") else "css" if name.endswith(".css") else ""
            expect(wanted in response.headers.get("Content-Type", "") and response.content,
                   f"{name}: Content-Type {response.headers.get('Content-Type')!r}, {len(response.content)} bytes")
            self.headers_of(response)
            if name.endswith(".js"):
                queue += [urljoin(url, module) for module in re.findall(r'from "(\./[a-z0-9-]+\.js)"', response.text)]
        return f"{len(fetched)} files: " + ", ".join(urlparse(url).path.rsplit("/", 1)[-1] for url in fetched)

    def contract_needs_login(self) -> str:
        response = self.get("/contract")
        expect(response.status_code == 401, f"status {response.status_code} without a token (expected 401)")
        body = json_of(response)
        error = body.get("error") if isinstance(body, dict) else None
        expect(isinstance(error, dict) and isinstance(error.get("code"), str) and isinstance(error.get("message"), str),
               f"not the API's error shape: {str(body)[:120]}")
        return f"401 {error['code']}"

    def cors(self) -> str:
        """The API sets no CORS (the portal is served from the same origin): a preflight from a
        foreign origin must not be granted."""
        response = self.http.options(self.base + "/contract", timeout=TIMEOUT, headers={
            "Origin": FOREIGN_ORIGIN, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"})
        allowed = response.headers.get("Access-Control-Allow-Origin")
        expect(allowed not in ("*", FOREIGN_ORIGIN), f"a foreign origin is allowed (Access-Control-Allow-Origin: "
                                                     f"{allowed})")
        return f"foreign origin not allowed (status {response.status_code})"

    def correlation_id(self) -> str:
        sent = f"smoke-{uuid.uuid4()}"
        response = self.get("/support/contacts", headers={"X-Correlation-Id": sent})
        echoed = response.headers.get("X-Correlation-Id")
        # Every stage echoes it (the on-call quotes it to find a request's log lines): none is a FAIL.
        expect(echoed is not None, "the answer carries no X-Correlation-Id")
        expect(echoed == sent, f"sent {sent}, answered {echoed}")
        return "echoed"

    def checks(self) -> List[Tuple[str, Callable[[], str]]]:
        return [("openapi", self.openapi), ("support-contacts", self.support_contacts),
                ("portal-page", self.portal_page), ("portal-assets", self.portal_assets),
                ("contract-needs-login", self.contract_needs_login), ("cors", self.cors),
                ("correlation-id", self.correlation_id)]


def run(base: str, out=sys.stdout, session=None) -> bool:
    failed = []
    for name, check in Smoke(base, session).checks():
        try:
            detail = check()
            print(f"PASS {name}: {detail}", file=out)
        except Failed as why:
            failed.append(name)
            print(f"FAIL {name}: {why}", file=out)
        except requests.RequestException as error:
            failed.append(name)
            print(f"FAIL {name}: {type(error).__name__}: {error}", file=out)
    print(f"smoke {'FAILED: ' + ', '.join(failed) if failed else 'passed'} ({base})", file=out)
    return not failed


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].startswith(("http://", "https://")):
        print("usage: python infra/smoke.py URL (the API's base, http:// or https://)", file=sys.stderr)
        return 2
    return 0 if run(args[0]) else 1


if __name__ == "__main__":
    sys.exit(main())
