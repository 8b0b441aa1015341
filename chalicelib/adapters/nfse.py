"""NFS-e (nota fiscal de serviço eletrônica) emission, behind an interface.

`SimulatedNfseEmitter` stands in for the national NFS-e API locally: it numbers notes in sequence,
answers with a verification code and an XML that follows the national DPS layout (infDPS with
prestador, tomador, serviço and valores), and is idempotent per DPS id (our invoice id).
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Dict, Protocol
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class IssuedNfse:
    number: str
    verification_code: str
    issued_at: str
    xml: str


class NfseEmitter(Protocol):
    def emit(self, request: dict) -> IssuedNfse: ...


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


class SimulatedNfseEmitter:
    def __init__(self, first_number: int = 1):
        self._next = first_number
        self._issued: Dict[str, IssuedNfse] = {}
        self._lock = threading.Lock()

    def emit(self, request: dict) -> IssuedNfse:
        with self._lock:
            if request["dps_id"] not in self._issued:
                number = str(self._next)
                self._next += 1
                code = hashlib.sha256(f"{request['dps_id']}:{number}".encode()).hexdigest()[:9].upper()
                self._issued[request["dps_id"]] = IssuedNfse(number=number, verification_code=code,
                                                             issued_at=request["issued_at"],
                                                             xml=dps_xml(request, number, code))
            return self._issued[request["dps_id"]]
