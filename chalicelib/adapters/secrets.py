"""A partner's credentials, kept as a JSON secret in AWS Secrets Manager.

The bank's API credentials and Partner Center's app credentials are secrets, never settings: the
settings name the secret (BANK_CREDENTIALS_SECRET, PARTNER_CENTER_CREDENTIALS_SECRET), infra/
creates it with a placeholder, and the reseller puts the values in (README, "Parceiros reais").
It is read on first use and again after `refresh_seconds` (a rotated secret reaches a warm
container), and its values never go into an error message, a log line or a repr.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Callable, Dict, Optional, Sequence

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from . import certificates  # noqa: F401 - installs the filter that keeps SecretString out of botocore's DEBUG logs


class SecretUnavailable(Exception):
    """The secret is missing, still the placeholder, lacks a value the adapter needs, or could not
    be read or written (access denied, KMS, throttling, Secrets Manager down or unreachable): the
    adapters answer it as their partner's transient Unavailable, so a call is tried again later."""


def _failure(error: Exception) -> str:
    """What went wrong, never the secret's value nor botocore's text (which can carry a URL or,
    for some errors, what was sent): the error code or the exception's class."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "ClientError")
    return type(error).__name__


class JsonSecret:
    """`values()` answers the secret's JSON object, checked to hold every one of `required` (non-empty)."""

    def __init__(self, secret_id: str, region: str, required: Sequence[str], *, refresh_seconds: float = 3600,
                 monotonic: Callable[[], float] = time.monotonic):
        self._secret_id = secret_id
        self._region = region
        self._required = tuple(required)
        self._refresh_seconds = refresh_seconds
        self._monotonic = monotonic
        self._values: Optional[Dict[str, str]] = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"JsonSecret({self._secret_id!r})"

    @property
    def secret_id(self) -> str:
        return self._secret_id

    def values(self) -> Dict[str, str]:
        with self._lock:
            if self._values is None or self._monotonic() - self._read_at >= self._refresh_seconds:
                self._values = self._read()
                self._read_at = self._monotonic()
            return dict(self._values)

    def forget(self) -> None:
        """Read the secret again on next use (after the partner refused the credentials: it may
        have been rotated since it was read)."""
        with self._lock:
            self._values = None

    def put(self, values: Dict[str, str]) -> None:
        """Write new values (a rotated refresh token) and keep them."""
        try:
            client = boto3.client("secretsmanager", region_name=self._region)
            client.put_secret_value(SecretId=self._secret_id, SecretString=json.dumps(values))
        except (ClientError, BotoCoreError) as error:
            raise SecretUnavailable(f"secret {self._secret_id} could not be written ({_failure(error)})") from None
        with self._lock:
            self._values = dict(values)
            self._read_at = self._monotonic()

    def _read(self) -> Dict[str, str]:
        if not self._secret_id:
            raise SecretUnavailable("no secret is named")
        try:
            client = boto3.client("secretsmanager", region_name=self._region)
            raw = client.get_secret_value(SecretId=self._secret_id).get("SecretString")
        except ClientError as error:
            if _failure(error) == "ResourceNotFoundException":
                raise SecretUnavailable(f"secret {self._secret_id} not found") from None
            # AccessDenied, DecryptionFailure, throttling, InternalServiceError...: a partner's
            # outage for the caller, never a 500 nor a stuck job.
            raise SecretUnavailable(f"secret {self._secret_id} could not be read ({_failure(error)})") from None
        except BotoCoreError as error:  # EndpointConnectionError, timeouts, no credentials, no region
            raise SecretUnavailable(f"secret {self._secret_id} could not be read ({_failure(error)})") from None
        if not isinstance(raw, str):
            raise SecretUnavailable(f"secret {self._secret_id} has no SecretString")
        try:
            content = json.loads(raw)
        except ValueError:
            raise SecretUnavailable(f"secret {self._secret_id} is not a JSON object") from None  # never quote it
        if not isinstance(content, dict):
            raise SecretUnavailable(f"secret {self._secret_id} is not a JSON object")
        missing = [key for key in self._required if not isinstance(content.get(key), str) or not content[key].strip()]
        if missing:
            raise SecretUnavailable(f"secret {self._secret_id} lacks {', '.join(missing)} (still the placeholder?)")
        return {key: value for key, value in content.items() if isinstance(value, str)}
