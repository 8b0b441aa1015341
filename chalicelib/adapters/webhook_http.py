"""The customer's webhook endpoint, over HTTP: resolve, vet, then POST to the vetted address.

SSRF is checked twice: when an endpoint is registered (`vet`) and before every delivery, because
DNS may change after registration. The connection goes to the very IP that was vetted (pinned):
the Host header and TLS (SNI and the certificate's check) still name the host, so a second DNS
answer cannot swap the address between the check and the connection. Redirects are never
followed (a 3xx is a failed attempt) and a slow endpoint is cut at the timeout.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from ..domain import error_codes as codes
from ..domain import webhooks as rules
from ..domain.errors import DomainError
from ..domain.webhooks import Target

log = logging.getLogger("csp_portal.adapters.webhook_http")

Resolver = Callable[[str, int], List[str]]


def system_resolver(host: str, port: int) -> List[str]:
    """Every address the host's name resolves to (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


@dataclass(frozen=True)
class Outcome:
    """What one POST came to: the HTTP status (None: no answer) and, when it failed, why (short)."""

    status_code: Optional[int]
    error: Optional[str]

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookHttp:
    def __init__(self, *, timeout_seconds: float = 10.0, resolver: Resolver = system_resolver,
                 ca_bundle: Optional[str] = None, deadline_seconds: Optional[float] = None):
        self.timeout_seconds = timeout_seconds
        # The whole attempt's wall clock (connect, send, status, headers, body): urllib3's timeouts
        # bound each socket wait, so a receiver trickling a byte at a time would hold it for ever.
        self.deadline_seconds = deadline_seconds if deadline_seconds is not None else timeout_seconds + 2
        self.resolver = resolver
        self._ca_bundle = ca_bundle

    def vet(self, target: Target, *, allow_loopback: bool) -> str:
        """The address to connect to: every address of the host must be public (or loopback, where
        allowed and named so). Raises webhook_url_unresolvable / webhook_url_not_public."""
        try:
            addresses = [str(ipaddress.ip_address(target.host))]
        except ValueError:
            try:
                addresses = self.resolver(target.host, target.port)
            except (OSError, UnicodeError):
                raise codes.WEBHOOK_URL_UNRESOLVABLE(field="url", host=target.host)
        if not addresses:
            raise codes.WEBHOOK_URL_UNRESOLVABLE(field="url", host=target.host)
        refused = rules.refused_address(addresses, loopback_allowed=allow_loopback and target.is_loopback_name)
        if refused is not None:
            # The address stays in our logs: telling the caller would make this an internal DNS oracle.
            log.warning("webhook url %s refused: %s resolves to non-public %s", target.host, target.host, refused)
            raise codes.WEBHOOK_URL_NOT_PUBLIC(field="url")
        return addresses[0]

    def post(self, url: str, body: bytes, headers: Dict[str, str], *, allow_loopback: bool) -> Outcome:
        """POST `body` to `url`, vetting its addresses now; never raises for the endpoint's failures."""
        try:
            target = rules.parse_url(url, allow_loopback=allow_loopback)
            address = self.vet(target, allow_loopback=allow_loopback)
        except DomainError as exc:
            return Outcome(None, rules.short(f"{exc.code}: {exc.message}"))
        return self._send(target, address, body, headers)

    def _send(self, target: Target, address: str, body: bytes, headers: Dict[str, str]) -> Outcome:
        import urllib3
        from urllib3.exceptions import HTTPError as TransportError

        default_port = 443 if target.scheme == "https" else 80
        host_header = _bracketed(target.host) + ("" if target.port == default_port else f":{target.port}")
        timeout = urllib3.Timeout(total=self.timeout_seconds)
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(address, target.port, timeout=timeout, retries=False, maxsize=1,
                                               cert_reqs="CERT_REQUIRED", ca_certs=self._ca_bundle,
                                               server_hostname=target.host, assert_hostname=target.host)
        else:
            pool = urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False, maxsize=1)
        # The deadline: a timer shuts the attempt's socket down, whatever it is waiting for.
        sockets: List[socket.socket] = []
        expired = threading.Event()

        class Watched(pool.ConnectionCls):  # type: ignore[name-defined, misc]
            def connect(self):
                super().connect()
                sockets.append(self.sock)
                if expired.is_set():
                    _shut(self.sock)

        pool.ConnectionCls = Watched

        def expire():
            expired.set()
            for sock in sockets:
                _shut(sock)

        timer = threading.Timer(self.deadline_seconds, expire)
        timer.daemon = True
        timer.start()
        try:
            response = pool.urlopen("POST", target.path, body=body, headers={**headers, "Host": host_header},
                                    redirect=False, retries=False, preload_content=False)
            try:
                response.read(1024, decode_content=False)  # enough to finish the exchange; never kept
            finally:
                response.release_conn()
            if expired.is_set():
                raise TimeoutError("deadline")
            status = response.status
            return Outcome(status, None if 200 <= status < 300 else f"HTTP {status}")
        except (TransportError, OSError) as exc:
            if expired.is_set():
                return Outcome(None, f"Tempo esgotado: a tentativa passou de {self.deadline_seconds:g} s")
            return Outcome(None, rules.short(f"{type(exc).__name__}: {exc}"))
        finally:
            timer.cancel()
            pool.close()


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _shut(sock) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
