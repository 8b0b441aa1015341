"""Support contacts, shown to everyone (FAQ), from settings."""
from dataclasses import asdict

from chalice import Blueprint

from ..schemas import shape, text
from .http import endpoint

bp = Blueprint(__name__)

SUPPORT_CONTACTS = shape("SupportContacts", description="Onde falar com o suporte e com os especialistas.",
                         phone=text(), email=text(format="email"), service_desk_url=text(format="uri"),
                         specialists_phone=text(), specialists_email=text(format="email"))


@endpoint(bp, "/support/contacts", "GET", summary="Contatos do suporte e dos especialistas", capability=None,
          tag="support", response=SUPPORT_CONTACTS)
def support_contacts(ctx):
    return asdict(ctx.deps.settings.support)
