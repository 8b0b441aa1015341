"""A self-signed stand-in for an ICP-Brasil e-CNPJ A1 (PKCS#12): the reseller's while the NFS-e
is simulated (the local stack, the tests, a deployed stack whose secret still holds the
placeholder), and the simulated Sefin's own. It signs like the real one (RSA 2048, the CNPJ at the
end of the common name) but no authority issued it: the real Sefin refuses it, and the notes it
signs say "sem valor fiscal".
"""
from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from typing import Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

DEMO_PASSWORD = "demo-a1-password"


@functools.lru_cache(maxsize=8)
def demo_a1(cnpj: str, name: str = "BRASOFTWARE CLOUD LTDA", password: str = DEMO_PASSWORD,
            valid_days: int = 3650, organization: str = "ICP-Brasil (simulado)") -> Tuple[bytes, str]:
    """(PKCS#12 bytes, password) of a self-signed e-CNPJ for `cnpj`. Cached: an RSA key takes
    tens of milliseconds, and every test's fresh AWS world stores the same one."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "BR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.COMMON_NAME, f"{name}:{cnpj}"),
    ])
    now = datetime.now(timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=valid_days))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True,
                                                key_encipherment=True, data_encipherment=False, key_agreement=False,
                                                key_cert_sign=False, crl_sign=False, encipher_only=False,
                                                decipher_only=False), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                   .sign(key, hashes.SHA256()))
    data = pkcs12.serialize_key_and_certificates(
        b"csp-portal-a1", key, certificate, None, serialization.BestAvailableEncryption(password.encode("utf-8")))
    return data, password
