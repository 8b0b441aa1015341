"""The cancellation of a note as the national layout asks: a pedRegEvento with an e101101 event,
built with nfelib's bindings (v1.01) and signed by the author (the reseller)."""
from __future__ import annotations

from datetime import datetime
from typing import Tuple

from nfelib.nfse.bindings.v1_0 import tipos_eventos_v1_01 as event_types
from nfelib.nfse.bindings.v1_0 import tipos_simples_v1_01 as simple_types
from nfelib.nfse.bindings.v1_0.ped_reg_evento_v1_01 import PedRegEvento

from ..domain import nfse as rules
from .dps import LAYOUT_VERSION, serialize, text
from .signing import A1Certificate, sign

CANCELLATION = "101101"  # the event's type: cancelamento de NFS-e
CANCELLATION_DESCRIPTION = "Cancelamento de NFS-e"
# xMotivo is 15 to 255 characters; a reason shorter than that is introduced by this.
_SHORT_REASON_PREFIX = "Cancelamento: "


def request_id(access_key: str, event_type: str = CANCELLATION) -> str:
    """"PRE" + the note's access key (50) + the event's type (6), as TSIdPedRegEvt asks."""
    if len(access_key) != 50 or not access_key.isdigit():
        raise ValueError(f"an access key is 50 digits: {access_key!r}")
    return f"PRE{access_key}{event_type}"


def reason_text(reason: str) -> str:
    """The operator's reason as xMotivo accepts it (15 to 255 Latin-1 characters)."""
    cleaned = text(reason, 255) or ""
    if len(cleaned) < 15:
        cleaned = text(_SHORT_REASON_PREFIX + (cleaned or "motivo não informado"), 255)
    return cleaned


def cancellation_document(access_key: str, *, author_cnpj: str, environment: str, requested_at: datetime,
                          reason_code: str, reason: str,
                          application_version: str = rules.APPLICATION_VERSION) -> PedRegEvento:
    info = event_types.TcinfPedReg(
        Id=request_id(access_key), tpAmb=simple_types.TstipoAmbiente(environment),
        verAplic=text(application_version, 20), dhEvento=rules.local_timestamp(requested_at),
        CNPJAutor=author_cnpj, chNFSe=access_key,
        e101101=event_types.Te101101(xDesc=event_types.Te101101XDesc(CANCELLATION_DESCRIPTION),
                                     cMotivo=simple_types.TscodJustCanc(reason_code),
                                     xMotivo=reason_text(reason)))
    return PedRegEvento(infPedReg=info, versao=LAYOUT_VERSION)


def cancellation_xml(access_key: str, **fields) -> str:
    """The pedRegEvento of a note's cancellation, unsigned (fields: cancellation_document's)."""
    return serialize(cancellation_document(access_key, **fields))


def signed_cancellation(access_key: str, certificate: A1Certificate, **fields) -> Tuple[str, str]:
    """(the request's Id, the signed pedRegEvento) ready for the emitter's `cancel`."""
    identifier = request_id(access_key)
    return identifier, sign(cancellation_xml(access_key, **fields), identifier, certificate)
