"""The real NFS-e emitter: the Sefin Nacional's API, over mutual TLS with the reseller's A1.

The contract (the published API; tests/fakes/sefin_nacional.py follows it):

    POST /nfse                      {"dpsXmlGZipB64"} -> 201 {"chaveAcesso", "nfseXmlGZipB64", ...}
                                                       | 400 {"erros": [{"Codigo", "Descricao", "Complemento"}]}
    GET  /nfse/{chaveAcesso}        -> 200 {"chaveAcesso", "nfseXmlGZipB64"} | 404
    GET  /dps/{idDps}               -> 200 {"idDps", "chaveAcesso"} | 404
    POST /nfse/{chaveAcesso}/eventos {"pedidoRegistroEventoXmlGZipB64"}
                                    -> 201 {"eventoXmlGZipB64", ...} | 400 {"erros": [...]} | 404

Documents travel gzip+base64 inside JSON. The client authenticates with the A1 certificate in the
TLS handshake; the server is verified against `ca_bundle` when given (the tests' authority, or
the ICP-Brasil roots should the Sefin's certificate chain to them), else the bundle botocore
trusts (certifi's, or the one botocore ships) or the system store.

Idempotence: the DPS id is derived from the provider, series and number, and the Sefin answers a
DPS once. Before sending a DPS again after a timeout or a 5xx (the first request may have
generated the note and lost the answer), the emitter asks GET /dps/{id}; a refusal as a duplicate
DPS is recovered the same way. So a note is never declared twice, and the caller gets the note
that exists — when it is this DPS's: another system may have used the same series and number for
the CNPJ (an old ERP, a table that restarted its numbers, a dev stack sharing produção restrita),
so a recovered note is adopted only when the DPS it carries declares what was sent (its id, the
service's value, the taker, the competence); otherwise the emission is refused as
`DPS_COLLISION` and nothing is adopted.

Secrets: the certificate and its key go to a private directory (0700) as files (0600) because
OpenSSL loads a client certificate from files; the key is encrypted there with a random password
that lives in memory only. Nothing here logs or raises the key, the password, the certificate or
a whole document: failures name status codes, E-codes and ids.
"""
from __future__ import annotations

import base64
import binascii
import gzip
import json
import logging
import os
import re
import secrets
import shutil
import ssl
import tempfile
import threading
import time
import weakref
import xml.etree.ElementTree as ElementTree
from typing import TYPE_CHECKING, Callable, Optional, Tuple

import urllib3
from urllib3.exceptions import HTTPError as TransportError

from ..domain.nfse import Rejection, Rejections
from ..observability import tracer
from .nfse import IssuedNfse, NfseCancellation, NfseCancellationRefused, NfseRejected, NfseUnavailable

if TYPE_CHECKING:
    from ..fiscal.signing import A1Certificate

logger = logging.getLogger(__name__)

NFSE_NS = "{http://www.sped.fazenda.gov.br/nfse}"

# The refusal codes the adapter acts on: the DPS was already used (a note exists for it: recover
# it), and the note is cancelled already (done). Sets, so a code the Sefin's tables (Anexo I and II
# of the layout) add for the same case is one more member; to check against the tables in force
# before production, as the rest is checked against produção restrita.
DUPLICATE_DPS_CODES = frozenset({"E0014"})
ALREADY_CANCELLED_CODES = frozenset({"E0840"})

# Answers worth another try: the service is down or busy, not refusing what was sent.
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})

# The product's refusal of a recovered note that is not this DPS's (never the Sefin's code).
DPS_COLLISION = "DPS_COLLISION"

DPS_ID = re.compile(r"DPS[0-9]{42}")
ACCESS_KEY = re.compile(r"[0-9]{50}")


class _Transient(Exception):
    """A failure worth retrying: no answer (timeout, connection, TLS) or a 5xx."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


def pack(xml: str) -> str:
    """gzip + base64 of a document, as the API's JSON carries it (mtime 0: the same document
    packs the same, whenever it is sent)."""
    return base64.b64encode(gzip.compress(xml.encode("utf-8"), mtime=0)).decode("ascii")


def unpack(value: str) -> str:
    """The document a gzip+base64 field carries."""
    return gzip.decompress(base64.b64decode(value, validate=True)).decode("utf-8")


def _field(data: dict, name: str):
    """A key of the answer in any case (the API writes `idDps` and `idDPS`, `Codigo` and `codigo`)."""
    if not isinstance(data, dict):
        return None
    wanted = name.lower()
    for key, value in data.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value
    return None


def rejections_of(data: object) -> Rejections:
    """The E-codes of a refusal: "erros" (a list) or "erro" (one), keys in any case."""
    if not isinstance(data, dict):
        return ()
    found = _field(data, "erros")
    if found is None:
        found = _field(data, "erro")
    if isinstance(found, dict):
        found = [found]
    result = []
    for item in found if isinstance(found, list) else []:
        if not isinstance(item, dict):
            continue
        code = str(_field(item, "codigo") or "").strip()
        message = str(_field(item, "descricao") or _field(item, "mensagem") or "").strip()
        detail = _field(item, "complemento")
        if code or message:
            result.append(Rejection(code=code or "?", message=message,
                                    detail=str(detail).strip() if detail not in (None, "") else None))
    return tuple(result)


def _signed_id(xml: str, element: str) -> Optional[str]:
    """The Id of the document's `element` (infDPS), None when it has none or does not parse."""
    try:
        root = ElementTree.fromstring(xml.encode("utf-8"))
    except ElementTree.ParseError:
        return None
    found = root.find(f"{NFSE_NS}{element}")
    return found.get("Id") if found is not None else None


# What identifies a DPS's declaration, compared before adopting a note recovered by its id.
_DPS_FACTS = (
    ("Id", "id"),
    ("valor (vServ)", f"{NFSE_NS}valores/{NFSE_NS}vServPrest/{NFSE_NS}vServ"),
    ("tomador (CNPJ)", f"{NFSE_NS}toma/{NFSE_NS}CNPJ"),
    ("tomador (CPF)", f"{NFSE_NS}toma/{NFSE_NS}CPF"),
    ("competência (dCompet)", f"{NFSE_NS}dCompet"),
)


def _dps_facts(xml: str, *, inside_note: bool) -> Optional[dict]:
    """The facts of the DPS (`xml` a DPS, or an NFS-e carrying one); None when there is none."""
    try:
        root = ElementTree.fromstring(xml.encode("utf-8"))
    except ElementTree.ParseError:
        return None
    dps = root.find(f"{NFSE_NS}infNFSe/{NFSE_NS}DPS") if inside_note else root
    info = dps.find(f"{NFSE_NS}infDPS") if dps is not None else None
    if info is None:
        return None
    return {name: (info.get("Id") or "") if path == "id" else _text(info, path) for name, path in _DPS_FACTS}


def _dps_differences(sent: Optional[dict], found: Optional[dict]) -> list:
    """What differs between the DPS sent and the one the note carries (each "name: sent ≠ found")."""
    if sent is None or found is None:
        return ["a nota não traz a DPS enviada"]
    return [f"{name}: {sent[name] or '—'} ≠ {found[name] or '—'}" for name, _ in _DPS_FACTS
            if sent[name] != found[name]]


def _text(root: ElementTree.Element, path: str) -> str:
    found = root.find(path)
    return (found.text or "").strip() if found is not None else ""


class SefinNacionalEmitter:
    """`emit`, `cancel`, `note` and `find_by_dps` against the Sefin Nacional at `base_url`
    (settings.nfse_api_url). `certificate` answers the A1 (SecretsManagerCertificate.certificate):
    called once, on the first request. `attempts` counts every try of a request (the first
    included); the waits between them double from `backoff_seconds`."""

    def __init__(self, base_url: str, certificate: Callable[[], "A1Certificate"], *,
                 timeout_seconds: float = 30.0, attempts: int = 3, backoff_seconds: float = 1.0,
                 ca_bundle: Optional[str] = None, sleep: Callable[[float], None] = time.sleep):
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._base_url = base_url.rstrip("/")
        self._certificate = certificate
        self._timeout = urllib3.Timeout(connect=timeout_seconds, read=timeout_seconds)
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._ca_bundle = ca_bundle
        self._sleep = sleep
        self._pool: Optional[urllib3.PoolManager] = None
        self._tls_directory: Optional[str] = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SefinNacionalEmitter({self._base_url!r})"

    # -- the contract -------------------------------------------------------------------------

    def emit(self, dps_id: str, signed_dps: str) -> IssuedNfse:
        """Sends the signed DPS; answers the note generated for it (the existing one when the DPS
        was declared before). Raises NfseRejected (E-codes) or NfseUnavailable."""
        if not DPS_ID.fullmatch(dps_id):
            raise ValueError("dps_id is not DPS + 42 digits")
        if _signed_id(signed_dps, "infDPS") != dps_id:
            # The id is what a lost answer is recovered by: another DPS's id would fetch, and
            # attach to this invoice, another invoice's note.
            raise ValueError("dps_id is not the Id of the DPS's infDPS")
        body = {"dpsXmlGZipB64": pack(signed_dps)}
        last = "no attempt"
        answer_lost = False
        for attempt in range(1, self._attempts + 1):
            if attempt > 1:
                self._sleep(self._backoff * 2 ** (attempt - 2))
            try:
                if answer_lost:
                    # The previous POST may have generated the note and lost the answer: a second
                    # POST would be refused as a duplicate at best. Ask first.
                    existing = self._lookup_dps(dps_id)
                    if existing:
                        logger.info("NFS-e for %s found after a lost answer: %s", dps_id, existing)
                        return self._recovered(existing, dps_id, signed_dps)
                status, data = self._send("POST", "/nfse", body)
            except _Transient as failure:
                last, answer_lost = failure.what, True
                logger.warning("Sefin Nacional: POST /nfse for %s failed (%s), attempt %s of %s",
                               dps_id, failure.what, attempt, self._attempts)
                continue
            if status == 201:
                issued = self._issued_from(data, dps_id)
                logger.info("NFS-e %s issued for %s", issued.access_key, dps_id)
                return issued
            rejections = rejections_of(data)
            if status in (400, 409, 422) and rejections:
                if any(r.code in DUPLICATE_DPS_CODES for r in rejections):
                    existing = self.find_by_dps(dps_id)
                    if existing:
                        return self._recovered(existing, dps_id, signed_dps)
                logger.info("Sefin Nacional refused %s: %s", dps_id, ", ".join(r.code for r in rejections))
                raise NfseRejected(rejections)
            # 401/403 (the certificate is not accepted), an unknown answer: not the DPS's fault.
            raise NfseUnavailable(f"Sefin Nacional answered {status} to POST /nfse for {dps_id}")
        raise NfseUnavailable(f"Sefin Nacional unavailable for {dps_id} after {self._attempts} attempts ({last})")

    def cancel(self, access_key: str, signed_event: str) -> NfseCancellation:
        """Registers the signed pedRegEvento (e101101) of the note `access_key`. Raises
        NfseCancellationRefused ("unknown_note", "already_cancelled", "rejected") or
        NfseUnavailable. A retry after a lost answer may meet the event already registered: the
        Sefin then refuses it as cancelled already, which the caller reads as done."""
        self._check_access_key(access_key)
        body = {"pedidoRegistroEventoXmlGZipB64": pack(signed_event)}
        status, data = self._with_retries("POST", f"/nfse/{access_key}/eventos", body)
        if status in (200, 201):
            encoded = _field(data, "eventoXmlGZipB64")
            try:
                xml = unpack(encoded)
                root = ElementTree.fromstring(xml)
            except (TypeError, ValueError, binascii.Error, OSError, ElementTree.ParseError):
                raise NfseUnavailable(f"Sefin Nacional answered an unreadable event for {access_key}") from None
            info = root.find(f"{NFSE_NS}infEvento")
            if info is None:
                raise NfseUnavailable(f"Sefin Nacional answered an event without infEvento for {access_key}")
            return NfseCancellation(
                number=access_key,
                protocol=info.get("Id") or _text(info, f"{NFSE_NS}nDFSe"),
                registered_at=_text(info, f"{NFSE_NS}dhProc")
                or str(_field(data, "dataHoraProcessamento") or ""),
                xml=xml)
        if status == 404:
            raise NfseCancellationRefused("unknown_note")
        rejections = rejections_of(data)
        if status in (400, 409, 422) and rejections:
            codes = ", ".join(r.code for r in rejections)
            logger.info("Sefin Nacional refused the cancellation of %s: %s", access_key, codes)
            if any(r.code in ALREADY_CANCELLED_CODES for r in rejections):
                raise NfseCancellationRefused("already_cancelled", rejections)
            raise NfseCancellationRefused("rejected", rejections)
        raise NfseUnavailable(f"Sefin Nacional answered {status} to the event of {access_key}")

    def note(self, access_key: str) -> Optional[str]:
        """The NFS-e's XML as the Sefin holds it; None when it knows no such note."""
        self._check_access_key(access_key)
        status, data = self._with_retries("GET", f"/nfse/{access_key}")
        if status == 404:
            return None
        if status != 200:
            raise NfseUnavailable(f"Sefin Nacional answered {status} to GET /nfse/{access_key}")
        try:
            return unpack(_field(data, "nfseXmlGZipB64"))
        except (TypeError, ValueError, binascii.Error, OSError):
            raise NfseUnavailable(f"Sefin Nacional answered an unreadable note for {access_key}") from None

    def find_by_dps(self, dps_id: str) -> Optional[str]:
        """The access key of the note generated for the DPS `dps_id`; None when there is none."""
        if not DPS_ID.fullmatch(dps_id):
            raise ValueError("dps_id is not DPS + 42 digits")
        return self._dps_key(dps_id, *self._with_retries("GET", f"/dps/{dps_id}"))

    def _lookup_dps(self, dps_id: str) -> Optional[str]:
        """find_by_dps in one try (raises _Transient): emit's own loop decides what comes next."""
        return self._dps_key(dps_id, *self._send("GET", f"/dps/{dps_id}"))

    @staticmethod
    def _dps_key(dps_id: str, status: int, data: object) -> Optional[str]:
        if status == 404:
            return None
        key = _field(data, "chaveAcesso")
        # It becomes part of the next URL: 50 digits or it is not followed.
        if status != 200 or not isinstance(key, str) or not ACCESS_KEY.fullmatch(key):
            raise NfseUnavailable(f"Sefin Nacional answered {status} to GET /dps/{dps_id}")
        return key

    @property
    def tls_directory(self) -> Optional[str]:
        """Where the client certificate and its encrypted key are (None before the first request)."""
        return self._tls_directory

    # -- answers ------------------------------------------------------------------------------

    def _recovered(self, access_key: str, dps_id: str, signed_dps: str) -> IssuedNfse:
        """The note the Sefin holds for `dps_id`, adopted only when the DPS it carries is the one
        sent; else NfseRejected(DPS_COLLISION): the number was used by someone else's DPS."""
        xml = self.note(access_key)
        if xml is None:
            raise NfseUnavailable(f"Sefin Nacional names note {access_key} but does not answer it")
        issued = self._issued_note(access_key, xml)
        differences = _dps_differences(_dps_facts(signed_dps, inside_note=False), _dps_facts(xml, inside_note=True))
        if differences:
            logger.warning("Sefin Nacional holds note %s for %s, but its DPS differs (%s): not adopted",
                           access_key, dps_id, ", ".join(d.split(":")[0] for d in differences))
            raise NfseRejected((Rejection(
                code=DPS_COLLISION,
                message=(f"A DPS {dps_id} já foi usada por outra nota (nº {issued.number}, chave {access_key}) "
                         "com dados diferentes: a nota não foi vinculada a esta fatura. Confira a nota no "
                         "Emissor Nacional e, se ela é de outro sistema, configure uma nova série de DPS "
                         "(NFSE_DPS_SERIES) e emita de novo."),
                detail="; ".join(differences)),))
        return issued

    def _issued_from(self, data: object, dps_id: str) -> IssuedNfse:
        key = _field(data, "chaveAcesso")
        encoded = _field(data, "nfseXmlGZipB64")
        if not isinstance(key, str) or not ACCESS_KEY.fullmatch(key):
            raise NfseUnavailable(f"Sefin Nacional answered a note without an access key for {dps_id}")
        try:
            xml = unpack(encoded)
        except (TypeError, ValueError, binascii.Error, OSError):
            raise NfseUnavailable(f"Sefin Nacional answered an unreadable note for {dps_id}") from None
        return self._issued_note(key, xml)

    @staticmethod
    def _issued_note(access_key: str, xml: str) -> IssuedNfse:
        try:
            root = ElementTree.fromstring(xml)
        except ElementTree.ParseError:
            raise NfseUnavailable(f"the note {access_key} is not well-formed XML") from None
        info = root.find(f"{NFSE_NS}infNFSe")
        number = _text(info, f"{NFSE_NS}nNFSe") if info is not None else ""
        issued_at = _text(info, f"{NFSE_NS}dhProc") if info is not None else ""
        if not number or not issued_at:
            raise NfseUnavailable(f"the note {access_key} carries no nNFSe or dhProc")
        return IssuedNfse(number=number, verification_code=None, issued_at=issued_at, xml=xml,
                          access_key=access_key)

    # -- HTTP ---------------------------------------------------------------------------------

    @staticmethod
    def _check_access_key(access_key: str) -> None:
        # It becomes part of a URL path: digits only, or nothing is sent.
        if not ACCESS_KEY.fullmatch(access_key or ""):
            raise ValueError("access_key is not 50 digits")

    def _with_retries(self, method: str, path: str, body: Optional[dict] = None) -> Tuple[int, object]:
        last = "no attempt"
        for attempt in range(1, self._attempts + 1):
            if attempt > 1:
                self._sleep(self._backoff * 2 ** (attempt - 2))
            try:
                return self._send(method, path, body)
            except _Transient as failure:
                last = failure.what
                logger.warning("Sefin Nacional: %s %s failed (%s), attempt %s of %s",
                               method, path, failure.what, attempt, self._attempts)
        raise NfseUnavailable(f"Sefin Nacional unavailable: {method} {path} after {self._attempts} attempts ({last})")

    # No header of ours: the national gateway's handling of unknown headers is not documented; the
    # log lines of the call carry the correlation id. The trace keeps no answer (notes name takers).
    @tracer.capture_method(capture_response=False)
    def _send(self, method: str, path: str, body: Optional[dict] = None) -> Tuple[int, object]:
        """One request: (status, decoded JSON or None). Raises _Transient for no answer or a 5xx."""
        pool = self._connection_pool()
        try:
            response = pool.request(
                method, self._base_url + path,
                body=json.dumps(body).encode("utf-8") if body is not None else None,
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                timeout=self._timeout, retries=False, redirect=False)
        except (TransportError, OSError) as error:
            raise _Transient(_describe(error)) from None
        if response.status in TRANSIENT_STATUSES:
            raise _Transient(f"HTTP {response.status}")
        try:
            data = json.loads(response.data.decode("utf-8")) if response.data else None
        except (UnicodeDecodeError, ValueError):
            data = None
        return response.status, data

    def _connection_pool(self) -> urllib3.PoolManager:
        with self._lock:
            if self._pool is None:
                self._pool = self._new_pool()
            return self._pool

    def _new_pool(self) -> urllib3.PoolManager:
        certificate = self._certificate()
        # mkdtemp: 0700, readable by this process's user alone.
        directory = tempfile.mkdtemp(prefix="sefin-mtls-")
        weakref.finalize(self, shutil.rmtree, directory, True)
        password = secrets.token_urlsafe(32)
        certificate_file = os.path.join(directory, "client.pem")
        key_file = os.path.join(directory, "client.key")
        _write_private(certificate_file, certificate.certificate_pem)
        _write_private(key_file, certificate.private_key_pem(password.encode("ascii")))
        self._tls_directory = directory
        return urllib3.PoolManager(
            num_pools=2, maxsize=4, cert_reqs="CERT_REQUIRED", ca_certs=self._ca_bundle or _default_ca_bundle(),
            cert_file=certificate_file, key_file=key_file, key_password=password)


def _describe(error: BaseException) -> str:
    """What failed, in words fit for a log: the exception's class, and for TLS the handshake's
    reason (a refused client certificate, a server the bundle does not trust). Never the
    exception's text, which can quote a URL or a payload."""
    if isinstance(error, (urllib3.exceptions.SSLError, ssl.SSLError)):
        inner = error.args[0] if error.args and isinstance(error.args[0], ssl.SSLError) else error
        reason = getattr(inner, "reason", None) or type(inner).__name__
        return f"TLS handshake failed ({reason}): check the A1 certificate and the server's CA bundle"
    return type(error).__name__


def _write_private(path: str, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)


def _default_ca_bundle() -> Optional[str]:
    """The bundle botocore trusts for AWS: certifi's when installed, else the one botocore ships
    (the Lambda package has no certifi of its own); None (the system store) without either."""
    try:
        import certifi

        return certifi.where()
    except ImportError:
        pass
    try:
        from botocore.httpsession import DEFAULT_CA_BUNDLE
    except ImportError:
        return None
    return DEFAULT_CA_BUNDLE if os.path.exists(DEFAULT_CA_BUNDLE) else None
