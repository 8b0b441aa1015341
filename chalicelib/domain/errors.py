"""Named domain errors. Each carries a snake_case `code` that is part of the API.

The mapping to HTTP status lives in one place (`chalicelib.api.errors`); the domain only names
what went wrong, with a pt-BR message a user can read.
"""
from __future__ import annotations

from typing import Any, Dict, Optional


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
    """The request is malformed or a field breaks a rule (400/422)."""

    code = "invalid_input"


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


class RuleViolation(DomainError):
    """Well-formed, but a business rule refuses it (422)."""

    code = "rule_violation"


class PayloadTooLarge(DomainError):
    """The body is larger than the API accepts (413)."""

    code = "payload_too_large"


class TooManyRequests(DomainError):
    """Rate limit reached, here or at an identity provider (429)."""

    code = "too_many_requests"
