"""A local Sefin Nacional: an HTTPS server that demands a client certificate issued by a test
authority and answers the published contract (see chalicelib/adapters/sefin_nacional.py):

    POST /nfse                         DPS (gzip+base64) -> 201 note | 400 E-codes
    GET  /nfse/{chaveAcesso}           -> 200 | 404
    GET  /dps/{idDps}                  -> 200 | 404
    POST /nfse/{chaveAcesso}/eventos   pedRegEvento -> 201 evento | 400 E-codes | 404

Like the real one it refuses a DPS or an event that fails the XSD (nfelib's v1.01) or whose
signature does not verify, or whose signer is not the provider; a DPS id answers one note. A
test can script what the next requests of a route meet: a refusal, N 5xx answers, an answer
delayed past the client's timeout (the note is generated, the answer lost). Every request that
passed the TLS handshake is recorded (method, path, the client certificate's subject), and every
handshake refused too.

    authority = CertificateAuthority()
    with FakeSefinNacional(authority) as sefin:
        pkcs12, password = authority.issue_a1(CNPJ)
        ... SefinNacionalEmitter(sefin.url, ..., ca_bundle=sefin.ca_bundle)
"""
from __future__ import annotations

import base64
import gzip
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from typing import Deque, Dict, List, Optional, Tuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NS = "http://www.sped.fazenda.gov.br/nfse"

# The refusals this fake answers (codes of the layout's tables where the adapter acts on them).
SCHEMA_FAILURE = "E1235"  # the document fails the XSD
SIGNATURE_FAILURE = "E0714"  # the signature does not verify
SIGNER_NOT_PROVIDER = "E0715"  # the certificate that signed is not the provider's (or the author's)
DUPLICATE_DPS = "E0014"  # the DPS was used already: a note exists for it
ALREADY_CANCELLED = "E0840"  # the note has a cancellation event already
EVENT_OTHER_NOTE = "E0830"  # the event names another note than the URL
BAD_REQUEST = "E0001"  # the body is not the JSON the route takes


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "BR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Autoridade de Teste"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class CertificateAuthority:
    """A test CA: it issues the fake server's certificate and the clients' A1s."""

    def __init__(self, name: str = "AC Teste csp-portal"):
        self.key = _key()
        now = datetime.now(timezone.utc)
        self.certificate = (
            x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256()))

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def _issue(self, subject: x509.Name, key, usage: x509.ObjectIdentifier, names=None) -> x509.Certificate:
        now = datetime.now(timezone.utc)
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(self.certificate.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def issue_server(self) -> Tuple[bytes, bytes]:
        """(certificate PEM, key PEM) of a server certificate for 127.0.0.1 and localhost."""
        key = _key()
        certificate = self._issue(_name("localhost"), key, ExtendedKeyUsageOID.SERVER_AUTH,
                                  [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))])
        return (certificate.public_bytes(serialization.Encoding.PEM),
                key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))

    def issue_a1(self, cnpj: str, name: str = "EMPRESA DE TESTE LTDA",
                 password: str = "senha-do-a1-de-teste") -> Tuple[bytes, str]:
        """(PKCS#12, password) of an e-CNPJ A1 issued by this authority ("NAME:CNPJ" common name)."""
        key = _key()
        certificate = self._issue(_name(f"{name}:{cnpj}"), key, ExtendedKeyUsageOID.CLIENT_AUTH)
        data = pkcs12.serialize_key_and_certificates(
            b"a1", key, certificate, [self.certificate],
            serialization.BestAvailableEncryption(password.encode("utf-8")))
        return data, password


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    client_subject: str  # the client certificate's subject, RFC 4514
    body: Optional[dict]


@dataclass
class _Note:
    access_key: str
    dps_id: str
    number: int
    xml: str
    cancelled: bool = False


def _pack(xml: str) -> str:
    return base64.b64encode(gzip.compress(xml.encode("utf-8"))).decode("ascii")


def _unpack(value) -> str:
    return gzip.decompress(base64.b64decode(value, validate=True)).decode("utf-8")


def _check_digit(digits: str) -> str:
    """Módulo 11, weights 2..9 from the right, as the layout's keys use."""
    total = sum(int(d) * (2 + i % 8) for i, d in enumerate(reversed(digits)))
    rest = total % 11
    return "0" if rest < 2 else str(11 - rest)


def _now() -> str:
    return datetime.now(timezone(timedelta(hours=-3))).replace(microsecond=0).isoformat()


class FakeSefinNacional:
    """The server; a context manager (starts on enter, stops on exit)."""

    ENVIRONMENT = 2  # produção restrita

    def __init__(self, authority: CertificateAuthority):
        self.authority = authority
        self.requests: List[Recorded] = []
        self.refused_handshakes: List[str] = []
        self._notes: Dict[str, _Note] = {}  # by access key
        self._by_dps: Dict[str, str] = {}  # DPS id -> access key
        self._script: Dict[str, Deque[Tuple[str, object]]] = defaultdict(deque)
        self._next_number = 1
        self._next_event = 0
        self._lock = threading.Lock()
        self._directory: Optional[str] = None
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- life -----------------------------------------------------------------------------------

    def __enter__(self) -> "FakeSefinNacional":
        self.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    def start(self) -> None:
        self._directory = tempfile.mkdtemp(prefix="fake-sefin-")
        certificate, key = self.authority.issue_server()
        paths = {}
        for name, content in (("server.pem", certificate), ("server.key", key), ("ca.pem", self.authority.certificate_pem)):
            paths[name] = os.path.join(self._directory, name)
            with open(paths[name], "wb") as handle:
                handle.write(content)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(paths["server.pem"], paths["server.key"])
        context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: no client certificate, no answer
        context.load_verify_locations(cafile=paths["ca.pem"])
        self.ca_bundle = paths["ca.pem"]
        self._server = _TlsServer(("127.0.0.1", 0), _Handler, context=context, fake=self)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}/SefinNacional"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._directory:
            shutil.rmtree(self._directory, ignore_errors=True)

    # -- what a test scripts --------------------------------------------------------------------
    # route: "emit" (POST /nfse), "event" (POST /nfse/{key}/eventos), "dps" (GET /dps/{id}),
    # "nfse" (GET /nfse/{key}).

    def fail_next(self, route: str, count: int = 1, status: int = 503) -> None:
        """The next `count` requests to `route` are answered `status` without being processed."""
        for _ in range(count):
            self._script[route].append(("fail", status))

    def refuse_next(self, route: str, *errors: Tuple[str, str]) -> None:
        """The next request to `route` is refused (400) with these (code, description)."""
        self._script[route].append(("refuse", errors))

    def answer_next(self, route: str, status: int, body: dict) -> None:
        """The next request to `route` gets this answer as it is (a server misbehaving)."""
        self._script[route].append(("answer", (status, body)))

    def delay_next(self, route: str, seconds: float) -> None:
        """The next request to `route` is processed, and its answer sent only after `seconds`
        (longer than the client's timeout: the effect happens, the answer is lost)."""
        self._script[route].append(("delay", seconds))

    # -- what a test reads ----------------------------------------------------------------------

    def calls(self, method: str, prefix: str = "") -> List[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    def wait_for_refused_handshakes(self, count: int, within: float = 3.0) -> int:
        """How many handshakes were refused, once `count` were or `within` seconds passed: the
        client sees the server's alert a moment before the server's thread records it."""
        deadline = time.monotonic() + within
        while len(self.refused_handshakes) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return len(self.refused_handshakes)

    @property
    def notes(self) -> Dict[str, str]:
        """access key -> the note's XML, for every note generated."""
        with self._lock:
            return {key: note.xml for key, note in self._notes.items()}

    def is_cancelled(self, access_key: str) -> bool:
        with self._lock:
            return self._notes[access_key].cancelled

    # -- the contract ---------------------------------------------------------------------------

    def next_scripted(self, route: str):
        with self._lock:
            return self._script[route].popleft() if self._script[route] else None

    def answer(self, method: str, path: str, body: Optional[dict]) -> Tuple[int, dict]:
        route = path[len("/SefinNacional"):] if path.startswith("/SefinNacional/") else None
        if route is None:
            return 404, {"erros": [{"Codigo": "E404", "Descricao": "Recurso não encontrado"}]}
        if method == "POST" and route == "/nfse":
            return self._emit(body)
        match = re.fullmatch(r"/nfse/([0-9]{50})/eventos", route)
        if method == "POST" and match:
            return self._event(match.group(1), body)
        match = re.fullmatch(r"/nfse/([0-9]{50})", route)
        if method == "GET" and match:
            with self._lock:
                note = self._notes.get(match.group(1))
            if note is None:
                return 404, self._refusal(("E0404", "NFS-e não encontrada"))
            return 200, {**self._header(), "chaveAcesso": note.access_key, "nfseXmlGZipB64": _pack(note.xml)}
        match = re.fullmatch(r"/dps/(DPS[0-9]{42})", route)
        if method == "GET" and match:
            with self._lock:
                key = self._by_dps.get(match.group(1))
            if key is None:
                return 404, self._refusal(("E0404", "DPS não encontrada"))
            return 200, {**self._header(), "idDps": match.group(1), "chaveAcesso": key}
        return 404, self._refusal(("E0404", "Recurso não encontrado"))

    def _header(self) -> dict:
        return {"tipoAmbiente": self.ENVIRONMENT, "versaoAplicativo": "FakeSefin_1.0",
                "dataHoraProcessamento": _now()}

    def _refusal(self, *errors: Tuple[str, str], complements: Tuple[str, ...] = ()) -> dict:
        listed = []
        for index, (code, description) in enumerate(errors):
            item = {"Codigo": code, "Descricao": description}
            if index < len(complements):
                item["Complemento"] = complements[index]
            listed.append(item)
        return {**self._header(), "erros": listed}

    def _checked(self, body: Optional[dict], field: str, document: str):
        """(xml, root) of a signed document, or (status, refusal) when the Sefin would refuse it."""
        from lxml import etree

        from chalicelib.fiscal import schemas, signing

        try:
            xml = _unpack(body[field])
        except (KeyError, TypeError, ValueError, OSError):
            return None, (400, self._refusal((BAD_REQUEST, f"Campo {field} ausente ou não é gzip+base64")))
        complaints = schemas.validate(xml, document)
        if complaints:
            return None, (400, self._refusal(*[(SCHEMA_FAILURE, "Falha no esquema XML")] * len(complaints),
                                             complements=tuple(complaints)))
        try:
            verified = signing.verify(xml)
        except signing.InvalidSignature as error:
            return None, (400, self._refusal((SIGNATURE_FAILURE, "Assinatura digital inválida"),
                                             complements=(str(error),)))
        root = etree.fromstring(xml.encode("utf-8"))
        author = root.findtext(f".//{{{NS}}}prest/{{{NS}}}CNPJ") or root.findtext(f".//{{{NS}}}CNPJAutor")
        names = verified.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not names or not names[0].value.endswith(f":{author}"):
            return None, (400, self._refusal((SIGNER_NOT_PROVIDER, "Certificado de assinatura não pertence ao autor")))
        return (xml, root), None

    def _emit(self, body: Optional[dict]) -> Tuple[int, dict]:
        checked, refusal = self._checked(body, "dpsXmlGZipB64", "DPS")
        if refusal:
            return refusal
        xml, root = checked
        info = root.find(f"{{{NS}}}infDPS")
        dps_id = info.get("Id")
        with self._lock:
            if dps_id in self._by_dps:
                return 400, {**self._refusal((DUPLICATE_DPS, "DPS já utilizada para gerar uma NFS-e")), "idDPS": dps_id}
            number = self._next_number
            self._next_number += 1
            city = info.findtext(f"{{{NS}}}cLocEmi")
            cnpj = info.findtext(f"{{{NS}}}prest/{{{NS}}}CNPJ")
            month = info.findtext(f"{{{NS}}}dhEmi")[2:7].replace("-", "")
            # cMun (7), ambGer (1), tpInsc (1: 2 = CNPJ), CNPJ (14), nNFSe (13), AAMM (4), cNum (9), DV.
            body_key = f"{city}22{cnpj}{number:013d}{month}{secrets.randbelow(10 ** 9):09d}"
            access_key = body_key + _check_digit(body_key)
            note = _Note(access_key=access_key, dps_id=dps_id, number=number,
                         xml=self._note_xml(access_key, number, root))
            self._notes[access_key] = note
            self._by_dps[dps_id] = access_key
        return 201, {**self._header(), "idDps": dps_id, "chaveAcesso": access_key,
                     "nfseXmlGZipB64": _pack(note.xml), "alertas": []}

    @staticmethod
    def _note_xml(access_key: str, number: int, dps_root) -> str:
        """The note as the Sefin answers it: the simulator's builder (valid against
        NFSe_v1.01.xsd, the signed DPS inside, signed by the simulated Sefin's certificate)."""
        from chalicelib.adapters.nfse import simulated_note

        return simulated_note(dps_root, provider_cnpj=dps_root.findtext(f"{{{NS}}}infDPS/{{{NS}}}prest/{{{NS}}}CNPJ"),
                              number=number, processed_at=_now(), access_key=access_key,
                              application_version="FakeSefin_1.0")

    def _event(self, access_key: str, body: Optional[dict]) -> Tuple[int, dict]:
        with self._lock:
            note = self._notes.get(access_key)
        if note is None:
            return 404, self._refusal(("E0404", "NFS-e não encontrada"))
        checked, refusal = self._checked(body, "pedidoRegistroEventoXmlGZipB64", "pedRegEvento")
        if refusal:
            return refusal
        xml, root = checked
        if root.findtext(f".//{{{NS}}}chNFSe") != access_key:
            return 400, self._refusal((EVENT_OTHER_NOTE, "Chave de acesso do evento difere da informada"))
        with self._lock:
            if note.cancelled:
                return 400, self._refusal((ALREADY_CANCELLED, "NFS-e já cancelada"))
            note.cancelled = True
            self._next_event += 1
            sequence = self._next_event
        request = re.sub(r"^<\?xml[^>]*\?>", "", xml).strip()
        event = (f'<?xml version="1.0" encoding="UTF-8"?><evento xmlns="{NS}" versao="1.01">'
                 f'<infEvento Id="EVT{access_key}101101001"><verAplic>FakeSefin_1.0</verAplic><ambGer>2</ambGer>'
                 f"<nSeqEvento>1</nSeqEvento><dhProc>{_now()}</dhProc><nDFSe>{sequence}</nDFSe>"
                 f"{request}</infEvento></evento>")
        return 201, {**self._header(), "eventoXmlGZipB64": _pack(event)}


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler, *, context: ssl.SSLContext, fake: FakeSefinNacional):
        self.context = context
        self.fake = fake
        super().__init__(address, handler)

    def finish_request(self, request: socket.socket, client_address) -> None:
        # The handshake runs in the request's thread, so a stalled client blocks nobody, and a
        # refused one is recorded instead of vanishing in accept().
        try:
            request.settimeout(10)
            secured = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:
            self.fake.refused_handshakes.append(getattr(error, "reason", None) or type(error).__name__)
            return
        try:
            self.RequestHandlerClass(secured, client_address, self)
        finally:
            try:
                secured.close()
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args) -> None:  # quiet: the tests read `requests`
        pass

    def _client_subject(self) -> str:
        der = self.connection.getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der).subject.rfc4514_string() if der else ""

    def _handle(self, method: str) -> None:
        fake: FakeSefinNacional = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        fake.requests.append(Recorded(method, self.path, self._client_subject(), body))
        route = _route(method, self.path)
        scripted = fake.next_scripted(route) if route else None
        delay = 0.0
        if scripted and scripted[0] == "fail":
            status, answer = scripted[1], {"mensagem": "Serviço indisponível"}
        elif scripted and scripted[0] == "answer":
            status, answer = scripted[1]
        elif scripted and scripted[0] == "refuse":
            status, answer = 400, fake._refusal(*scripted[1])
        else:
            if scripted and scripted[0] == "delay":
                delay = scripted[1]
            status, answer = fake.answer(method, self.path, body)
        if delay:
            time.sleep(delay)
        data = json.dumps(answer).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up waiting (a lost answer, on purpose)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")


def _route(method: str, path: str) -> Optional[str]:
    path = path[len("/SefinNacional"):]
    if method == "POST" and path == "/nfse":
        return "emit"
    if method == "POST" and re.fullmatch(r"/nfse/[0-9]+/eventos", path):
        return "event"
    if method == "GET" and path.startswith("/dps/"):
        return "dps"
    if method == "GET" and path.startswith("/nfse/"):
        return "nfse"
    return None
