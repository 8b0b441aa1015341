"""The one Jinja2 environment: autoescape on, pt-BR filters for money and dates.

Templates live in `templates/` at the project root; in the Lambda package they sit at the same
place relative to `chalicelib/` (vendor/templates is a link to them).
"""
from __future__ import annotations

import os
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Dict, Tuple

from ..domain.clock import SAO_PAULO
from ..domain.money import format_brl, format_percent_br

TEMPLATES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             "templates")


def format_date_br(value: Any) -> str:
    """'2026-11-24' or a date/datetime → '24/11/2026' (instants shown in São Paulo time)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.astimezone(SAO_PAULO) if value.tzinfo else value
        return value.strftime("%d/%m/%Y %H:%M")
    return value.strftime("%d/%m/%Y")


# While an email renders, a line break inside a value ("{{ ticket.subject }}") stands as this
# private-use character, so that the text template's first line — the subject — ends where the
# template ends it, not where a customer typed Enter; it is a line break again in the bodies and a
# space in the subject.
_VALUE_BREAK = "\ue000"


def _keep_value_breaks(value: Any) -> Any:
    return value.replace(_VALUE_BREAK, "").replace("\n", _VALUE_BREAK) if isinstance(value, str) else value


@lru_cache(maxsize=1)
def environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True),
        undefined=StrictUndefined,  # a missing variable is a bug, not an empty string in an email
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_keep_value_breaks,
    )
    env.filters["brl"] = format_brl
    env.filters["date_br"] = format_date_br
    env.filters["percent_br"] = format_percent_br
    return env


def render(name: str, **context: Any) -> str:
    """Any template but an email's: the text as rendered, line breaks in values restored."""
    return environment().get_template(name).render(**context).replace(_VALUE_BREAK, "\n")


def render_email(name: str, context: Dict[str, Any]) -> Tuple[str, str, str]:
    """Render `email/<name>.html` and `.txt` with one context → (subject, html, text).

    The subject is the first line of the text template, after 'Assunto: '.
    """
    env = environment()
    text = env.get_template(f"email/{name}.txt").render(**context)
    html = env.get_template(f"email/{name}.html").render(**context).replace(_VALUE_BREAK, "\n")
    first_line, _, body = text.partition("\n")
    subject = first_line.removeprefix("Assunto:").replace(_VALUE_BREAK, " ").strip()
    return subject, html, body.lstrip("\n").replace(_VALUE_BREAK, "\n")
