"""The reseller's A1 certificate (e-CNPJ, PKCS#12) and its password, from AWS Secrets Manager.

The secret (infra/ creates it with a placeholder; the reseller puts the real one in) is JSON:
`{"pkcs12_base64": "<the .pfx, base64>", "password": "<its password>"}`. It is read once per
container, on the first note emitted or cancelled, and kept in memory only: never in settings
files, logs or error messages (a failure names the secret, never its content).
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Optional, Tuple

import boto3

from ..domain.clock import system_clock

if TYPE_CHECKING:
    from ..fiscal.signing import A1Certificate


class _NoSecretValues(logging.Filter):
    """botocore logs every response body at DEBUG: with DEBUG on (AWS_LAMBDA_LOG_LEVEL, a debugging
    session), GetSecretValue's would put the PKCS#12 and its password in CloudWatch."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "SecretString" not in str(record.msg) and not any(
            "SecretString" in str(arg) for arg in (record.args if isinstance(record.args, tuple) else (record.args,)))


logging.getLogger("botocore.parsers").addFilter(_NoSecretValues())
log = logging.getLogger("csp_portal.certificates")


class CertificateUnavailable(Exception):
    """The secret is missing, still the placeholder, or does not open: emission cannot sign."""


class SecretsManagerCertificate:
    """`certificate()` answers the A1 the secret holds, checked: it opens, it is the reseller's
    (`owner_cnpj`) and it has not expired (`clock`). While the NFS-e is simulated (`demo_owner` set:
    (CNPJ, name)), a secret still holding infra/'s placeholder gives a self-signed demo A1 instead,
    with a warning, so a stack deployed before the reseller has its certificate still issues its
    (simulated, "sem valor fiscal") notes."""

    def __init__(self, secret_id: str, region: str, *, owner_cnpj: Optional[str] = None,
                 demo_owner: Optional[Tuple[str, str]] = None, clock: Callable[[], datetime] = system_clock):
        self._secret_id = secret_id
        self._region = region
        self._owner_cnpj = owner_cnpj
        self._demo_owner = demo_owner
        self._clock = clock
        self._loaded: Optional["A1Certificate"] = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SecretsManagerCertificate({self._secret_id!r})"

    def certificate(self) -> "A1Certificate":
        """The A1 certificate, read from Secrets Manager on first use (once per container); its
        validity checked on every use, since a container may outlive it."""
        with self._lock:
            if self._loaded is None:
                loaded = self._read()
                if self._owner_cnpj and loaded.cnpj != self._owner_cnpj:
                    raise CertificateUnavailable(
                        f"the certificate in {self._secret_id} is for CNPJ {loaded.cnpj}, not the reseller's "
                        f"({self._owner_cnpj}): the Sefin refuses a DPS signed by another CNPJ")
                self._loaded = loaded
            if self._loaded.expired(self._clock()):
                raise CertificateUnavailable(
                    f"the certificate in {self._secret_id} expired on {self._loaded.not_valid_after:%Y-%m-%d}: "
                    "put the renewed A1 in the secret")
            return self._loaded

    def _read(self) -> "A1Certificate":
        from ..fiscal.signing import A1Certificate, InvalidCertificate

        if not self._secret_id:
            raise CertificateUnavailable("NFSE_CERTIFICATE_SECRET is not set")
        client = boto3.client("secretsmanager", region_name=self._region)
        try:
            raw = client.get_secret_value(SecretId=self._secret_id)["SecretString"]
        except client.exceptions.ResourceNotFoundException as missing:
            raise CertificateUnavailable(f"secret {self._secret_id} not found") from missing
        try:
            content = json.loads(raw)
            data = base64.b64decode(content["pkcs12_base64"], validate=True)
            password = content["password"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            # `from None`: the decoding error could quote the secret.
            raise CertificateUnavailable(
                f"secret {self._secret_id} is not {{\"pkcs12_base64\", \"password\"}} (still the placeholder?)") from None
        if not data and self._demo_owner is not None:
            log.warning("secret %s still holds the placeholder: the simulated NFS-e signs with a self-signed demo "
                        "certificate (notes without fiscal value)", self._secret_id)
            from .demo_certificate import demo_a1

            return A1Certificate.from_pkcs12(*demo_a1(*self._demo_owner))
        if not data:
            # infra/ creates the secret with this placeholder; the operator puts the .pfx in (README).
            raise CertificateUnavailable(f"secret {self._secret_id} still holds the placeholder: put the A1 "
                                         "certificate (.pfx, base64) and its password in it")
        try:
            return A1Certificate.from_pkcs12(data, password)
        except InvalidCertificate:
            raise CertificateUnavailable(f"the certificate in {self._secret_id} does not open with its password") from None


def secret_value(pkcs12: bytes, password: str) -> str:
    """The secret's JSON for a PKCS#12 and its password (local stack, tests, the README's command)."""
    return json.dumps({"pkcs12_base64": base64.b64encode(pkcs12).decode("ascii"), "password": password})
