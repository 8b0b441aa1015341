"""Named domain errors, and the catalogue of every error code the API answers.

An error has a *kind* (a class: invalid input, not found, conflict…) and a *code* (a snake_case
name that is part of the API). Each code is declared once, in `chalicelib.domain.error_codes`,
with its kind and its pt-BR message; raise sites call the declared code
(`raise codes.CONTRACT_NOT_ACTIVE(status=contract.status)`), never spell a code or a message of
their own. The kind decides the HTTP status, in one place (`chalicelib.api.errors`), so one code
can never mean two statuses.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any, Dict, Optional, Type


class DomainError(Exception):
    """Base of every error the domain and services raise on purpose."""

    code = "domain_error"

    def __init__(self, message: str, code: Optional[str] = None, details: Optional[Dict[str, Any]] = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class InvalidInput(DomainError):
    """The request is malformed or a field breaks a rule (400)."""

    code = "invalid_input"


class InvalidBoleto(InvalidInput):
    """A barcode or linha digitável that does not hold together; `details.reason` says why."""

    code = "invalid_boleto"


class NotAuthenticated(DomainError):
    """No valid token (401)."""

    code = "not_authenticated"


class Forbidden(DomainError):
    """Authenticated, but the user's profiles do not allow this (403)."""

    code = "forbidden"


class NotFound(DomainError):
    """The object does not exist for this caller: also used for other organisations' objects (404)."""

    code = "not_found"


class Conflict(DomainError):
    """The state changed under the caller or forbids the action (409)."""

    code = "conflict"


class StaleVersion(Conflict):
    """If-Match or the optimistic lock saw a newer version (409)."""

    code = "version_conflict"


# Conflicts a caller catches by class to decide what to do next (retry, skip, refuse).

class AlreadyInvoiced(Conflict):
    """This contract's period has its invoice already (a rerun or a duplicate message)."""

    code = "already_invoiced"


class NumberTaken(Conflict):
    """Another worker took this invoice number first: read the counter again and retry."""

    code = "invoice_number_taken"


class AuditOverwriteRefused(Conflict):
    """An audit entry with this key exists already: the trail is append-only."""

    code = "audit_overwrite_refused"


class RuleViolation(DomainError):
    """Well-formed, but a business rule refuses it (422)."""

    code = "rule_violation"


class PayloadTooLarge(DomainError):
    """The body is larger than the API accepts (413)."""

    code = "payload_too_large"


class UnsupportedMediaType(DomainError):
    """The body is not JSON (415)."""

    code = "unsupported_media_type"


class TooManyRequests(DomainError):
    """Rate limit reached, here or at an identity provider (429)."""

    code = "too_many_requests"


class ServiceUnavailable(DomainError):
    """An outside party we depend on (the bank, the NFS-e emitter) is down: nothing was changed,
    try again later (503)."""

    code = "service_unavailable"


# --- the catalogue ------------------------------------------------------------------------------

CATALOGUE: Dict[str, "ErrorCode"] = {}


@dataclass(frozen=True)
class ErrorCode:
    """One code of the API: its kind (hence its status) and its pt-BR message.

    The message may name `{placeholders}`; calling the code fills them from the details it is
    given, and the details travel in the error JSON so a client can point at the field."""

    code: str
    kind: Type[DomainError]
    message: str

    def __call__(self, **details: Any) -> DomainError:
        return self.kind(self.message.format_map(details), code=self.code, details=details)

    def placeholders(self) -> set:
        return {name for _, name, _, _ in string.Formatter().parse(self.message) if name}


def declare(code: str, kind: Type[DomainError], message: str) -> ErrorCode:
    """Add a code to the catalogue; a code declared twice is a programming error, caught at import."""
    if code in CATALOGUE:
        raise ValueError(f"error code {code!r} is declared twice")
    declared = ErrorCode(code, kind, message)
    CATALOGUE[code] = declared
    return declared
