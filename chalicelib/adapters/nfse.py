"""NFS-e (nota fiscal de serviço eletrônica) emission, behind an interface.

The product builds and signs the DPS (chalicelib/fiscal); an emitter sends it and answers the
NFS-e the national system generated, or the reasons it refused it. Cancellation is an event
(pedRegEvento with an e101101), built and signed the same way.

`SimulatedNfseEmitter` stands in for the Sefin Nacional locally and in tests (to be rewritten by
the fiscal core task: it refuses a DPS or an event that fails the XSD or whose signature does not
verify, and answers an NFS-e valid against NFSe_v1.01.xsd). `SefinNacionalEmitter`
(adapters/sefin_nacional.py) is the real one.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Dict, List, Protocol
from xml.sax.saxutils import escape

from ..domain.nfse import Rejections


@dataclass(frozen=True)
class IssuedNfse:
    """The NFS-e the national system generated for a DPS."""

    number: str  # nNFSe
    verification_code: str  # kept for the old simulator's notes; "" for national notes (to remove)
    issued_at: str  # dhProc, as the emitter stamped it
    xml: str  # the NFS-e document as the emitter answered it (signed by the emitter)
    access_key: str = ""  # chave de acesso, 50 digits: what queries and events name the note by


@dataclass(frozen=True)
class NfseCancellation:
    """The emitter's record of a cancellation event: its protocol and the event's XML."""

    number: str  # the note cancelled
    protocol: str
    registered_at: str
    xml: str


class NfseUnavailable(Exception):
    """A transient failure at the emitter (timeout, 5xx after retries): try again later."""


class NfseRejected(Exception):
    """The emitter refused the DPS for what it says (E-codes): sending it again will not help until
    the data changes. `rejections` carries each code and message as the emitter gave them."""

    def __init__(self, rejections: Rejections):
        super().__init__("; ".join(f"{r.code}: {r.message}" for r in rejections)[:500])
        self.rejections = rejections


class NfseCancellationRefused(Exception):
    """The emitter refused the event: `reason` is "unknown_note", "already_cancelled" or
    "rejected" (then `rejections` says why)."""

    def __init__(self, reason: str, rejections: Rejections = ()):
        super().__init__(reason)
        self.reason = reason
        self.rejections = rejections


# The national layout's cancellation reasons (cMotivo of the e101101 event).
CANCEL_ISSUE_ERROR = "1"  # erro na emissão: a corrected note replaces it
CANCEL_SERVICE_NOT_PROVIDED = "2"
CANCEL_OTHER = "9"


class NfseEmitter(Protocol):
    """The contract both emitters keep (the target of the fiscal core task; the old dict-based
    `emit(request)`/`cancel(request)` below is what the simulator still answers until then):

        emit(dps_id: str, signed_dps: str) -> IssuedNfse
            Sends the signed DPS and answers the NFS-e generated for it. Idempotent per dps_id: a
            DPS sent again (a retry after a timeout) answers the note already generated.
            Raises NfseRejected (E-codes) or NfseUnavailable.
        cancel(access_key: str, signed_event: str) -> NfseCancellation
            Registers the signed pedRegEvento (e101101). Raises NfseCancellationRefused or
            NfseUnavailable.
        note(access_key: str) -> Optional[str]
            The NFS-e's XML as the national system holds it, None when it knows no such note.
    """

    def emit(self, request: dict) -> IssuedNfse: ...

    def cancel(self, request: dict) -> NfseCancellation:
        """`request`: number, provider_document, reason_code, reason_text, requested_at. Raises
        NfseCancellationRefused (unknown note, cancelled already) or NfseUnavailable."""
        ...


def dps_xml(request: dict, number: str, verification_code: str) -> str:
    """A DPS (Declaração de Prestação de Serviço) as the national NFS-e layout shapes it."""
    def tag(name: str, value) -> str:
        return f"<{name}>{escape(str(value))}</{name}>"

    amount = f"{request['total_cents'] // 100}.{request['total_cents'] % 100:02d}"
    iss = f"{request['iss_cents'] // 100}.{request['iss_cents'] % 100:02d}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<NFSe xmlns="http://www.sped.fazenda.gov.br/nfse" versao="1.00">'
        f'<infNFSe Id="NFS{number}">'
        + tag("nNFSe", number) + tag("cVerif", verification_code) + tag("dhProc", request["issued_at"])
        + '<DPS versao="1.00">'
        f'<infDPS Id="DPS{escape(request["dps_id"])}">'
        + tag("tpAmb", request.get("environment", "2")) + tag("dhEmi", request["issued_at"])
        + tag("serie", "1") + tag("nDPS", request["dps_number"]) + tag("dCompet", request["competence"])
        + "<prest>" + tag("CNPJ", request["provider"]["document"]) + tag("xNome", request["provider"]["name"])
        + "</prest>"
        + "<toma>" + tag("CNPJ", request["customer"]["document"]) + tag("xNome", request["customer"]["name"])
        + "</toma>"
        + "<serv><cServ>" + tag("cTribNac", request["service_code"]) + tag("xDescServ", request["service_description"])
        + "</cServ></serv>"
        + "<valores><vServPrest>" + tag("vServ", amount) + "</vServPrest>"
        + "<trib><tribMun>" + tag("pAliq", request["iss_rate"]) + tag("vISSQN", iss) + "</tribMun></trib>"
        + "</valores></infDPS></DPS></infNFSe></NFSe>"
    )


def cancellation_event_xml(request: dict, protocol: str) -> str:
    """The pedRegEvento of a note's cancellation (event e101101) as the national layout shapes it."""
    def tag(name: str, value) -> str:
        return f"<{name}>{escape(str(value))}</{name}>"

    event_id = f"PRE{request['number']}101101"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<pedRegEvento xmlns="http://www.sped.fazenda.gov.br/nfse" versao="1.00">'
        f'<infPedReg Id="{escape(event_id)}">'
        + tag("tpAmb", request.get("environment", "2")) + tag("verAplic", "csp-portal")
        + tag("dhEvento", request["requested_at"]) + tag("CNPJAutor", request["provider_document"])
        + tag("chNFSe", request["number"]) + tag("nPedRegEvento", "1")
        + "<e101101>" + tag("xDesc", "Cancelamento de NFS-e") + tag("cMotivo", request["reason_code"])
        + tag("xMotivo", request["reason_text"]) + "</e101101>"
        + "</infPedReg></pedRegEvento>"
        + f"<!-- protocolo {escape(protocol)} -->"
    )


class SimulatedNfseEmitter:
    def __init__(self, first_number: int = 1):
        self._next = first_number
        self._issued: Dict[str, IssuedNfse] = {}
        self._cancelled: Dict[str, NfseCancellation] = {}
        self._lock = threading.Lock()
        self._cancel_failures_left = 0
        self._emit_failures_left = 0
        self._rejections: Rejections = ()
        self._rejections_left = 0
        # Every cancellation event received, refused ones too (tests count them).
        self.cancel_requests: List[dict] = []

    def reject_next(self, rejections: Rejections, count: int = 1) -> None:
        """The next `count` DPS are refused with `rejections` (E-codes), before any note is made."""
        self._rejections, self._rejections_left = tuple(rejections), count

    def fail_next_emit(self, count: int) -> None:
        """The next `count` DPS fail as an outage would, before any note is made."""
        self._emit_failures_left = count

    def fail_next_cancel(self, count: int) -> None:
        """The next `count` cancellation events fail as an outage would."""
        self._cancel_failures_left = count

    def cancel(self, request: dict) -> NfseCancellation:
        with self._lock:
            self.cancel_requests.append(dict(request))
            if self._cancel_failures_left > 0:
                self._cancel_failures_left -= 1
                raise NfseUnavailable("simulated NFS-e emitter outage")
            number = str(request["number"])
            if not any(note.number == number for note in self._issued.values()):
                raise NfseCancellationRefused("unknown_note")
            if number in self._cancelled:
                raise NfseCancellationRefused("already_cancelled")
            protocol = hashlib.sha256(f"cancel:{number}".encode()).hexdigest()[:15].upper()
            self._cancelled[number] = NfseCancellation(
                number=number, protocol=protocol, registered_at=request["requested_at"],
                xml=cancellation_event_xml(request, protocol))
            return self._cancelled[number]

    def cancellation(self, number: str):
        """The cancellation event recorded for a note, or None."""
        return self._cancelled.get(str(number))

    def emit(self, request: dict) -> IssuedNfse:
        with self._lock:
            if self._emit_failures_left > 0:
                self._emit_failures_left -= 1
                raise NfseUnavailable("simulated NFS-e emitter outage")
            if self._rejections_left > 0:
                self._rejections_left -= 1
                raise NfseRejected(self._rejections)
            if request["dps_id"] not in self._issued:
                number = str(self._next)
                self._next += 1
                code = hashlib.sha256(f"{request['dps_id']}:{number}".encode()).hexdigest()[:9].upper()
                self._issued[request["dps_id"]] = IssuedNfse(number=number, verification_code=code,
                                                             issued_at=request["issued_at"],
                                                             xml=dps_xml(request, number, code))
            return self._issued[request["dps_id"]]
