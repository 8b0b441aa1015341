"""boto3 clients, created lazily and cached per process (a Lambda reuses them across calls)."""
from __future__ import annotations

import threading
from typing import Any, Dict

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

                config = Config(signature_version="s3v4")
            _clients[key] = boto3.session.Session().client(service, region_name=region, config=config)
        return _clients[key]


def reset_clients() -> None:
    """Forget cached clients (tests that restart the embedded AWS)."""
    with _lock:
        _clients.clear()
