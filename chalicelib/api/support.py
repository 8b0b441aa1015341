"""Support contacts, shown to everyone (FAQ), from settings."""
from dataclasses import asdict

from chalice import Blueprint

from .http import endpoint

bp = Blueprint(__name__)


@endpoint(bp, "/support/contacts", "GET", summary="Contatos do suporte e dos especialistas", capability=None,
          tag="support")
def support_contacts(ctx):
    return asdict(ctx.deps.settings.support)
