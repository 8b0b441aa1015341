"""The view of an organisation's address (the NFS-e taker's), shared by the back office's
organisation and `/me`'s: one shape, published once."""
from __future__ import annotations

from typing import Any, Dict, Optional

from ..domain.addresses import Address
from ..schemas import closed, component, nullable, text

ADDRESS = component("Address", closed(dict(
    cep=text(pattern="^[0-9]{8}$", description="8 dígitos, sem pontuação."), street=text(description="Logradouro."),
    number=text(description="Número; S/N quando não há."), complement=nullable(text()),
    district=text(description="Bairro."), city_code=text(pattern="^[0-9]{7}$", description="Código IBGE do município."),
    city=text(description="O nome do município, como o IBGE o escreve."), state=text(description="UF.")),
    description="O endereço do cliente, o do tomador na NFS-e."))


def address_view(address: Optional[Address]) -> Optional[Dict[str, Any]]:
    if address is None:
        return None
    return {"cep": address.cep, "street": address.street, "number": address.number,
            "complement": address.complement, "district": address.district, "city_code": address.city_code,
            "city": address.city, "state": address.state}
