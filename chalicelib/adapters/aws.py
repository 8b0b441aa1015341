"""boto3 clients, created lazily and cached per process (a Lambda reuses them across calls)."""
from __future__ import annotations

import threading
from typing import Any, Dict

# S3 and SES calls: at most MAX_ATTEMPTS attempts of CONNECT + READ seconds each (and botocore's
# backoff between them, under a second): CALL_BOUND_SECONDS, 26 s.
CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, MAX_ATTEMPTS = 3, 10, 2
CALL_BOUND_SECONDS = MAX_ATTEMPTS * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS)

_clients: Dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str, region: str) -> Any:
    # Imported here: keeps boto3 off the import path of the pure parts and of cold starts that
    # never touch this service.
    import boto3

    key = f"{service}:{region}"
    with _lock:
        if key not in _clients:
            # S3: SigV4 everywhere (presigned links included), as every current region requires.
            config = None
            if service == "s3":
                from botocore.config import Config

                # Bounded as SES's (below): the email worker reads attachments within its margin
                # (services/notifications.py, BATCH_SEND_MARGIN_SECONDS); botocore's defaults (60 s
                # to connect and to answer, each attempt retried) would outlast it.
                config = Config(signature_version="s3v4", connect_timeout=CONNECT_TIMEOUT_SECONDS,
                                read_timeout=READ_TIMEOUT_SECONDS,
                                retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS})
            elif service == "sesv2":
                from botocore.config import Config

                # One send never outlasts the email worker's margin (services/notifications.py,
                # BATCH_SEND_MARGIN_SECONDS, 30 s): at most 2 attempts of 3 s to connect and 10 s to
                # answer. A throttled or failed send is retried by SQS, not here.
                config = Config(connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS,
                                retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS})
            _clients[key] = boto3.session.Session().client(service, region_name=region, config=config)
        return _clients[key]


def reset_clients() -> None:
    """Forget cached clients (tests that restart the embedded AWS)."""
    with _lock:
        _clients.clear()
