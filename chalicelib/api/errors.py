"""The one place where errors become HTTP: status by error class, and the error JSON of API.md."""
from __future__ import annotations

from typing import Optional, Type

from chalice import Response

from ..domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    RuleViolation,
    ServiceUnavailable,
    TooManyRequests,
    UnsupportedMediaType,
)


STATUS_BY_ERROR = {
    InvalidInput: 400,
    NotAuthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    RuleViolation: 422,
    TooManyRequests: 429,
    ServiceUnavailable: 503,
}


# The one code outside the catalogue: an unexpected failure (500), never a rule.
INTERNAL_ERROR = "internal_error"

def status_of_kind(kind: Type[DomainError]) -> int:
    for klass in kind.__mro__:
        if klass in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[klass]
    return 400


def status_of(error: DomainError) -> int:
    return status_of_kind(type(error))


def error_response(error: Optional[DomainError]) -> Response:
    """The error JSON; `None` stands for an unexpected failure (500, no details leaked)."""
    if error is None:
        status, code, message, details = 500, INTERNAL_ERROR, "Erro interno. Tente novamente mais tarde.", {}
    else:
        status, code, message, details = status_of(error), error.code, error.message, error.details
    headers = {"Content-Type": "application/json"}
    if status == 503:
        headers["Retry-After"] = "60"  # an outside party's outage: worth trying again in a minute
    if status == 429 and isinstance(details.get("retry_after_seconds"), int):
        headers["Retry-After"] = str(details["retry_after_seconds"])  # a rate limit says how long it holds
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="csp-portal"'
    return Response(body={"error": {"code": code, "message": message, "details": details}},
                    status_code=status, headers=headers)
