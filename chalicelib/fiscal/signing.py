"""XMLDSig, enveloped, with an ICP-Brasil A1 certificate, as the national NFS-e asks: the
signature is the last child of the document's root (DPS, pedRegEvento) and references the
signed element by its Id (#DPS…, #PRE…); C14N 1.0, RSA-SHA256 and SHA-256, the certificate in
KeyInfo/X509Data.

`A1Certificate` holds the private key in memory only; its repr never shows it, and nothing here
logs it. The PKCS#12 and its password come from Secrets Manager (adapters/certificates.py).
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from lxml import etree

XMLDSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
C14N_1_0 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"


class InvalidCertificate(Exception):
    """The PKCS#12 could not be opened (wrong password, no key) or holds no usable certificate."""


class InvalidSignature(Exception):
    """The document carries no signature, or one that does not verify."""


@dataclass(frozen=True)
class A1Certificate:
    """The reseller's e-CNPJ A1: its certificate and private key, loaded from a PKCS#12."""

    certificate: x509.Certificate
    private_key: object = field(repr=False)

    @classmethod
    def from_pkcs12(cls, data: bytes, password: str) -> "A1Certificate":
        try:
            key, certificate, _chain = pkcs12.load_key_and_certificates(data, password.encode("utf-8"))
        except (ValueError, TypeError) as error:
            # The library's message may quote the input; ours never does.
            raise InvalidCertificate("the A1 certificate could not be opened (password or file)") from error
        if key is None or certificate is None:
            raise InvalidCertificate("the PKCS#12 holds no private key or no certificate")
        return cls(certificate=certificate, private_key=key)

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def private_key_pem(self, password: Optional[bytes] = None) -> bytes:
        """The key as PEM, encrypted with `password` when given (mutual TLS writes it to a file)."""
        encryption = (serialization.BestAvailableEncryption(password) if password
                      else serialization.NoEncryption())
        return self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              encryption)

    @property
    def cnpj(self) -> Optional[str]:
        """The CNPJ an ICP-Brasil e-CNPJ carries at the end of its common name ("RAZAO:12345678000199")."""
        names = self.certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        match = re.search(r"([0-9A-Z]{12}[0-9]{2})$", names[0].value) if names else None
        return match.group(1) if match else None

    @property
    def not_valid_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    def expired(self, now: datetime) -> bool:
        return now.astimezone(timezone.utc) > self.not_valid_after


RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"


def _ds(parent, tag: str, text: Optional[str] = None, **attributes):
    element = etree.SubElement(parent, f"{{{XMLDSIG_NS}}}{tag}", **attributes)
    element.text = text
    return element


def _c14n(element) -> bytes:
    """C14N 1.0 (inclusive, no comments) of an element, detached from its document.

    lxml's C14N of an element in place writes `xmlns=""` on descendants of an element that
    redeclares the default namespace (`<Signature xmlns="…xmldsig#">` inside `<DPS xmlns="…nfse">`):
    a form no other verifier computes. A detached copy keeps the namespaces the element uses,
    which for the documents built here (one default namespace per element, no prefixes) is every
    namespace in scope, so it is the canonical form the Sefin computes."""
    if any(prefix is not None for prefix in element.nsmap):
        raise ValueError("C14N here assumes default namespaces only")
    return etree.tostring(copy.deepcopy(element), method="c14n", exclusive=False, with_comments=False)


def sign(xml: str, reference_id: str, certificate: A1Certificate) -> str:
    """`xml` (a DPS or a pedRegEvento, unsigned) with its enveloped signature of the element whose
    Id is `reference_id`, appended as the root's last child. Returns the document as UTF-8 text
    with its XML declaration.

    Built here rather than with signxml: the layout wants `<Signature xmlns="…xmldsig#">`
    unprefixed, and signxml (through lxml's in-place C14N, see `_c14n`) then signs a SignedInfo
    whose Transforms carry `xmlns=""`, which no other verifier reproduces."""
    import base64
    import hashlib

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(xml.encode("utf-8"), parser=parser)
    signed = root.xpath("//*[@Id=$id]", id=reference_id)
    if len(signed) != 1:
        raise ValueError(f"no single element with Id {reference_id!r} to sign")
    # The enveloped transform removes the Signature from what is digested; it is not inside the
    # signed element (a sibling of infDPS), so the digest is the element's C14N 1.0 alone.
    digest = base64.b64encode(hashlib.sha256(_c14n(signed[0])).digest()).decode("ascii")
    signature = etree.SubElement(root, f"{{{XMLDSIG_NS}}}Signature", nsmap={None: XMLDSIG_NS})
    signed_info = _ds(signature, "SignedInfo")
    _ds(signed_info, "CanonicalizationMethod", Algorithm=C14N_1_0)
    _ds(signed_info, "SignatureMethod", Algorithm=RSA_SHA256)
    reference = _ds(signed_info, "Reference", URI=f"#{reference_id}")
    transforms = _ds(reference, "Transforms")
    _ds(transforms, "Transform", Algorithm=ENVELOPED)
    _ds(transforms, "Transform", Algorithm=C14N_1_0)
    _ds(reference, "DigestMethod", Algorithm=SHA256)
    _ds(reference, "DigestValue", digest)
    value = certificate.private_key.sign(_c14n(signed_info), padding.PKCS1v15(), hashes.SHA256())
    _ds(signature, "SignatureValue", base64.b64encode(value).decode("ascii"))
    der = certificate.certificate.public_bytes(serialization.Encoding.DER)
    _ds(_ds(_ds(signature, "KeyInfo"), "X509Data"), "X509Certificate", base64.b64encode(der).decode("ascii"))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")


@dataclass(frozen=True)
class VerifiedSignature:
    reference_id: str  # the Id of the element the signature covers
    certificate: x509.Certificate  # the certificate in KeyInfo that verified it


def embedded_certificate(xml: str | bytes) -> x509.Certificate:
    """The certificate a signed document carries in Signature/KeyInfo/X509Data."""
    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    root = etree.fromstring(raw, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    found = root.find(f"{{{XMLDSIG_NS}}}Signature/{{{XMLDSIG_NS}}}KeyInfo/{{{XMLDSIG_NS}}}X509Data/"
                      f"{{{XMLDSIG_NS}}}X509Certificate")
    if found is None or not (found.text or "").strip():
        raise InvalidSignature("the document carries no signature with a certificate")
    import base64

    return x509.load_der_x509_certificate(base64.b64decode("".join(found.text.split())))


SIGNATURE_HASHES = {RSA_SHA256: "SHA256", "http://www.w3.org/2000/09/xmldsig#rsa-sha1": "SHA1"}
DIGESTS = {SHA256: "sha256", "http://www.w3.org/2000/09/xmldsig#sha1": "sha1"}


def verify(xml: str | bytes, certificate: Optional[x509.Certificate] = None) -> VerifiedSignature:
    """Checks the root's enveloped signature: against `certificate` when given (the test's, the
    reseller's), else against the one the document carries (the Sefin's check, which then compares
    the certificate's CNPJ with the author's). Raises InvalidSignature.

    Checks what `sign` writes and what the Sefin signs with (RSA with SHA-256 or SHA-1, C14N 1.0,
    one reference to an element of the document by Id), and nothing else."""
    import base64
    import hashlib

    from cryptography.exceptions import InvalidSignature as CryptoInvalid
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    try:
        root = etree.fromstring(raw, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as error:
        raise InvalidSignature(f"not well-formed XML: {error}") from error
    ds = f"{{{XMLDSIG_NS}}}"
    signature = root.find(f"{ds}Signature")
    signed_info = signature.find(f"{ds}SignedInfo") if signature is not None else None
    if signed_info is None:
        raise InvalidSignature("the document carries no signature")
    method = signed_info.find(f"{ds}SignatureMethod")
    c14n = signed_info.find(f"{ds}CanonicalizationMethod")
    references = signed_info.findall(f"{ds}Reference")
    if (c14n is None or c14n.get("Algorithm") != C14N_1_0 or method is None
            or method.get("Algorithm") not in SIGNATURE_HASHES or len(references) != 1):
        raise InvalidSignature("unexpected signature algorithms or references")
    reference = references[0]
    uri = reference.get("URI") or ""
    targets = root.xpath("//*[@Id=$id]", id=uri[1:]) if uri.startswith("#") else []
    transforms = [t.get("Algorithm") for t in reference.iterfind(f"{ds}Transforms/{ds}Transform")]
    digest_method = reference.find(f"{ds}DigestMethod")
    digest_value = reference.findtext(f"{ds}DigestValue") or ""
    if len(targets) != 1 or transforms != [ENVELOPED, C14N_1_0] or digest_method is None \
            or digest_method.get("Algorithm") not in DIGESTS:
        raise InvalidSignature("the reference does not name one element with the expected transforms")
    target = targets[0]
    if signature in target.iterdescendants():
        raise InvalidSignature("the signature sits inside the element it signs")
    digest = hashlib.new(DIGESTS[digest_method.get("Algorithm")], _c14n(target)).digest()
    if base64.b64encode(digest).decode("ascii") != "".join(digest_value.split()):
        raise InvalidSignature("the signed element changed after it was signed (digest mismatch)")
    try:
        certificate = certificate or embedded_certificate(raw)
        value = base64.b64decode("".join((signature.findtext(f"{ds}SignatureValue") or "").split()))
        certificate.public_key().verify(value, _c14n(signed_info), padding.PKCS1v15(),
                                        getattr(hashes, SIGNATURE_HASHES[method.get("Algorithm")])())
    except (CryptoInvalid, ValueError) as error:
        raise InvalidSignature("the signature value does not match the certificate") from error
    return VerifiedSignature(reference_id=uri[1:], certificate=certificate)
