"""The portal web client: one page and its assets, served by the same API (and Lambda package)."""
import os
import re

from chalice import Blueprint, Response

from ..domain import error_codes as codes
from ..rendering.environment import TEMPLATES_DIR, render
from .http import endpoint

bp = Blueprint(__name__)

PORTAL_DIR = os.path.join(TEMPLATES_DIR, "portal")
ASSET_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
               ".svg": "image/svg+xml"}
# The page loads nothing from elsewhere: scripts, styles and API calls stay on this origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@endpoint(bp, "/", "GET", summary="Portal Brasoftware Cloud (aplicação web)", capability=None, tag="portal",
          ignore_unknown_query=True, media={"text/html": {"type": "string"}})
def portal(ctx):
    html = render("portal/index.html", support=ctx.deps.settings.support)
    return Response(body=html, status_code=200,
                    headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-cache",
                             **SECURITY_HEADERS})


@endpoint(bp, "/portal/assets/{name}", "GET", summary="Arquivos do portal (JS, CSS)", capability=None, tag="portal",
          errors=(404,),
          ignore_unknown_query=True,
          media={content_type.split(";")[0]: {"type": "string"} for content_type in ASSET_TYPES.values()})
def asset(ctx, name):
    extension = os.path.splitext(name)[1]
    if not re.fullmatch(r"[a-z0-9-]+\.(js|css|svg)", name) or extension not in ASSET_TYPES:
        raise codes.ASSET_NOT_FOUND()
    path = os.path.join(PORTAL_DIR, name)
    if not os.path.isfile(path):
        raise codes.ASSET_NOT_FOUND()
    with open(path, encoding="utf-8") as fh:
        body = fh.read()
    return Response(body=body, status_code=200,
                    headers={"Content-Type": ASSET_TYPES[extension], "Cache-Control": "public, max-age=300",
                             **SECURITY_HEADERS})
