"""A webhook receiver for the local stack (and the browser test): it verifies each POST's
`X-CSP-Signature` with the endpoint's secret, prints the event, and answers 200 (or the status
asked for, to watch the portal retry).

    .venv/bin/python -m local.webhook_receiver --port 9000 --secret whsec_...   # then, in the portal,
    # Integrações → Adicionar endpoint → http://127.0.0.1:9000/ (the local stack allows loopback URLs)

`verify` is the algorithm the README's "Webhooks" section documents for integrators, word for word;
tests/unit/test_webhook_signature_docs.py runs it against the product's own signer.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List, Optional

# --- the documented verification (README, "Webhooks": keep the two identical) ---
TOLERANCE_SECONDS = 300  # reject a signature made more than 5 minutes away from now (a replay)


def verify(secret: str, signature_header: str, raw_body: bytes, now: float | None = None) -> dict:
    """The event, if `X-CSP-Signature` was made with `secret` over exactly these bytes, recently;
    ValueError otherwise. `raw_body`: the request's bytes as received (not re-serialized JSON)."""
    timestamp, signatures = None, []
    for item in signature_header.split(","):            # "t=1764518400,v1=5f0c…"
        key, _, value = item.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not timestamp.isdigit() or not signatures:
        raise ValueError("malformed X-CSP-Signature")
    if abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE_SECONDS:
        raise ValueError("signature too old (or from the future): possible replay")
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise ValueError("signature does not match")
    return json.loads(raw_body)
# --- end of the documented verification ---


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    answered: int


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 (port 0: a free one) that keeps every request it received and
    answers `status` (changeable while it runs)."""
    port: int = 0
    status: int = 200
    requests: List[Received] = field(default_factory=list)
    server: Optional[ThreadingHTTPServer] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/erp/webhooks"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.status
                receiver.requests.append(Received(self.path, dict(self.headers.items()), body, status))
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"erro")

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", required=True, help="the endpoint's secret (whsec_…), shown once when it was added")
    parser.add_argument("--status", type=int, default=200, help="the HTTP status to answer (500: watch the retries)")
    args = parser.parse_args(argv)
    receiver = Receiver(port=args.port, status=args.status).start()
    print(f"Receiving on {receiver.url} (any path); Ctrl+C to stop")
    seen = 0
    try:
        while True:
            time.sleep(0.5)
            for request in receiver.requests[seen:]:
                seen += 1
                try:
                    event = verify(args.secret, request.headers.get("X-CSP-Signature", ""), request.body)
                    print(f"{event['type']} {event['id']} → {request.answered}: {json.dumps(event['data'], ensure_ascii=False)}")
                except ValueError as refused:
                    print(f"refused ({refused}): {request.body[:200]!r}")
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
