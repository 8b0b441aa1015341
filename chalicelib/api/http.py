"""The one mechanism every route goes through.

`endpoint(...)` registers a Chalice route and wraps its handler so that, in this order:
the bearer token is verified and the caller loaded, the route's capability is checked against the
role matrix, the query string is validated against the route's declared parameters (`query.py`),
body size and JSON are checked, the body is validated against its schema, an `Idempotency-Key` is
honoured, and any domain error becomes the API's error JSON.
Each route also lands in `ROUTES`, from which `/openapi.json` is built.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Dict, List, Optional, Tuple

from chalice import Chalice, Response

from ..bootstrap import container
from ..domain import error_codes as codes
from ..domain import mfa as mfa_rules
from ..domain.errors import DomainError
from ..domain.roles import Capability, can
from ..services import auth
from ..services.caller import Caller
from . import query as queries
from . import schema as schemas
from .errors import error_response

log = logging.getLogger("csp_portal.api")

IDEMPOTENCY_MEMORY = timedelta(hours=24)
# An attempt that neither finished nor failed (a Lambda that timed out) frees its key after this.
IDEMPOTENCY_IN_PROGRESS = timedelta(minutes=5)


@dataclass(frozen=True)
class RouteSpec:
    path: str
    method: str
    summary: str
    capability: Optional[Capability]  # None: public
    tag: str
    body: Optional[Dict[str, Any]] = None
    # Every query parameter the route accepts (a paginated route's `limit` and `next_token` included).
    query: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    status: int = 200
    idempotent: bool = False
    # Fields of the answer never kept for an idempotent replay (a secret shown once): replayed as null.
    replay_without: Tuple[str, ...] = ()
    paginated: bool = False
    if_match: bool = False
    # Pages a browser opens from links we do not write (utm_*, fbclid, cache-busters): other
    # parameters are ignored there instead of refused.
    ignore_unknown_query: bool = False
    # What a success answers, by media type (`chalicelib.schemas`); empty for a 204.
    responses: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    # Other success statuses answering the same shape (a repeated lead: 200 instead of 201).
    also_status: Tuple[int, ...] = ()
    # Error statuses a public route answers beyond the shared ones (a sign-in refused: 401).
    errors: Tuple[int, ...] = ()
    # Open to a user whose profile requires MFA and who has not enrolled (enrolment, /me): every
    # other authenticated route answers it 403 mfa_enrolment_required.
    before_mfa_enrolment: bool = False
    # Path parameters with a rule (a SKU): validated like a body field, before the handler; the
    # others are plain strings the service looks up.
    path_params: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    # A route taking a file as its body (a bank's return file), not JSON: the media types it
    # accepts, and its own size limit (`settings.max_body_bytes` otherwise).
    file_media: Tuple[str, ...] = ()
    max_body_bytes: Optional[int] = None
    # A public route whose path carries a secret (a webhook's token): `gate(deps, path_params)` runs
    # before anything else reads the request, and refuses by raising (a wrong token: 404, whatever the body).
    gate: Optional[Callable[[Any, Dict[str, str]], None]] = None
    # Other success statuses answering another JSON shape (a checkout sent for approval: 202).
    other_responses: Dict[int, Dict[str, Any]] = field(default_factory=dict)
    # A route that may answer 303 See Other with `Location:` (an ERP export too large for the body:
    # a presigned link to the file): what that answer means, for /openapi.json.
    redirect: Optional[str] = None


ROUTES: List[RouteSpec] = []


@dataclass
class RequestContext:
    deps: Any
    caller: Optional[Caller]
    body: Dict[str, Any]
    query: Dict[str, Any]  # the declared parameters, validated and typed (ints for integers)
    headers: Dict[str, str]
    source_ip: Optional[str]
    file: bytes = b""  # the body of a route declared with `file_media`

    def limit(self) -> int:
        return self.query["limit"]  # declared, with its default, on every paginated route

    def next_token(self) -> Optional[str]:
        return self.query.get("next_token") or None

    def accepts(self, media_type: str, preferred: str = "application/json") -> bool:
        """Whether to answer `media_type` rather than the route's own `preferred` type (JSON), by the
        Accept header's q-values: `media_type` must be named (never through a wildcard: a route
        answering another type besides JSON answers it only when asked by name) with a q above 0,
        and above JSON's q. JSON's q is the most specific entry that covers it (`application/json`,
        else `application/*`, else `*/*`; none: 0). Equal q: JSON when it is named too (the route's
        preference); a named type beats JSON reached only through a wildcard (`text/csv, */*`)."""
        weights: Dict[str, float] = {}
        for part in self.headers.get("accept", "").split(","):
            name, *params = [p.strip() for p in part.split(";")]
            weight = 1.0
            for param in params:
                key, _, value = param.partition("=")
                if key.strip().lower() == "q":  # a q that is not a qvalue (RFC 9110): the entry is ignored
                    weight = float(value.strip()) if re.fullmatch(r"[01](\.\d{0,3})?", value.strip()) else None
            if name and weight is not None:
                weights[name.lower()] = max(weight, weights.get(name.lower(), 0.0))
        wanted = weights.get(media_type.lower(), 0.0)
        if wanted <= 0:
            return False
        kind = preferred.split("/")[0]
        for covering in (preferred, f"{kind}/*", "*/*"):
            if covering in weights:
                rival = weights[covering]
                return wanted > rival or (wanted == rival and covering != preferred)
        return True

    def access_token(self) -> Optional[str]:
        """The bearer token the caller was authenticated with (the identity provider's own calls
        about that user, such as TOTP enrolment, take it)."""
        return _bearer(self.headers)

    def if_match(self) -> Optional[int]:
        """The version the client last saw (If-Match: 3, "3" or W/"3")."""
        raw = self.headers.get("if-match")
        if raw is None:
            return None
        match = re.fullmatch(r'\s*(?:W/)?"?(\d{1,12})"?\s*', raw)
        if not match:
            raise codes.INVALID_IF_MATCH(field="If-Match")
        return int(match.group(1))


def page(items: List[Any], next_token: Optional[str]) -> Dict[str, Any]:
    return {"items": items, "next_token": next_token}


def endpoint(blueprint, path: str, method: str, *, summary: str, capability: Optional[Capability],
             tag: str, body: Optional[Dict[str, Any]] = None, query: Optional[Dict[str, Dict[str, Any]]] = None,
             status: int = 200, idempotent: bool = False, paginated: bool = False, if_match: bool = False,
             ignore_unknown_query: bool = False, response: Optional[Dict[str, Any]] = None,
             media: Optional[Dict[str, Dict[str, Any]]] = None, also_status: Tuple[int, ...] = (),
             errors: Tuple[int, ...] = (), before_mfa_enrolment: bool = False,
             path_params: Optional[Dict[str, Dict[str, Any]]] = None, file_media: Tuple[str, ...] = (),
             max_body_bytes: Optional[int] = None, gate: Optional[Callable[[Any, Dict[str, str]], None]] = None,
             other_responses: Optional[Dict[int, Dict[str, Any]]] = None, redirect: Optional[str] = None,
             replay_without: Tuple[str, ...] = ()):
    """`response` is the JSON shape a success answers (a `chalicelib.schemas` shape); `media`, the
    shapes by media type of a route that does not answer JSON, or that also answers another type
    (the receivables as CSV when the client sends `Accept: text/csv`)."""
    declared = {**(query or {}), **(queries.PAGE if paginated else {})}
    for name, schema in declared.items():
        queries.check_declaration(name, schema)
    spec = RouteSpec(path=path, method=method, summary=summary, capability=capability, tag=tag, body=body,
                     query=declared, status=status, idempotent=idempotent, replay_without=replay_without,
                     paginated=paginated,
                     if_match=if_match, ignore_unknown_query=ignore_unknown_query,
                     responses={**({"application/json": response} if response is not None else {}), **(media or {})},
                     also_status=tuple(also_status), errors=tuple(errors),
                     before_mfa_enrolment=before_mfa_enrolment, path_params=dict(path_params or {}),
                     file_media=tuple(file_media), max_body_bytes=max_body_bytes, gate=gate,
                     other_responses=dict(other_responses or {}), redirect=redirect)
    ROUTES.append(spec)

    def register(handler: Callable[..., Any]):
        def view(**path_params: str):
            request = blueprint.current_request
            try:
                return _respond(spec, _handle(spec, handler, request, path_params))
            except DomainError as exc:
                return error_response(exc)
            except Exception:  # noqa: BLE001 - the last line of defence: log, never leak a trace
                log.exception("unhandled error on %s %s", method, path)
                return error_response(None)

        view.__name__ = handler.__name__
        view.__doc__ = handler.__doc__
        # Content types are checked by `_parse_body`, so a wrong one gets our error JSON (415).
        kwargs = {"methods": [method], "content_types": ["*/*"]}
        blueprint.route(path, **kwargs)(view)
        return handler

    return register


def _respond(spec: RouteSpec, result: Any) -> Any:
    if isinstance(result, Response):
        return result
    return Response(body=result if result is not None else "", status_code=spec.status,
                    headers={"Content-Type": "application/json"} if result is not None else {})


def _headers(request) -> Dict[str, str]:
    return {k.lower(): v for k, v in (request.headers or {}).items()}


def _source_ip(request) -> Optional[str]:
    return ((request.context or {}).get("identity") or {}).get("sourceIp")


def _parse_body(spec: RouteSpec, request, max_bytes: int) -> Dict[str, Any]:
    raw = request.raw_body or b""
    max_bytes = spec.max_body_bytes or max_bytes
    if len(raw) > max_bytes:
        raise codes.PAYLOAD_TOO_LARGE(max_bytes=max_bytes)
    if spec.file_media:
        content_type = (request.headers or {}).get("content-type", "")
        if content_type.split(";")[0].strip().lower() not in spec.file_media:
            raise codes.UNSUPPORTED_FILE_TYPE(content_type=content_type, accepted=" ou ".join(spec.file_media))
        return {}
    if spec.body is None:
        return {}
    content_type = (request.headers or {}).get("content-type", "application/json")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise codes.UNSUPPORTED_MEDIA_TYPE(content_type=content_type)
    if not raw.strip():
        raw = b"{}"
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise codes.INVALID_JSON()
    return schemas.validate(parsed, spec.body)


def _bearer(headers: Dict[str, str]) -> Optional[str]:
    authorization = headers.get("authorization", "")
    return authorization[7:].strip() if authorization[:7].lower() == "bearer " else None


def _authorize(spec: RouteSpec, deps, request, headers: Dict[str, str]) -> Optional[Caller]:
    if spec.capability is None:
        return None
    caller = auth.authenticate(deps, access_token=_bearer(headers),
                               acting_organization_id=headers.get("x-organization-id"),
                               source_ip=_source_ip(request))
    # From the user item authenticate() read: no extra read per request.
    if not spec.before_mfa_enrolment and mfa_rules.enrolment_pending(caller.user):
        raise codes.MFA_ENROLMENT_REQUIRED()
    if not can(caller.roles, spec.capability):
        raise codes.FORBIDDEN(required_capability=spec.capability.value)
    return caller


def _handle(spec: RouteSpec, handler, request, path_params: Dict[str, str]) -> Any:
    deps = container()
    if spec.gate is not None:
        spec.gate(deps, path_params)
    headers = _headers(request)
    # Authentication first: an anonymous caller learns nothing from validation errors.
    caller = _authorize(spec, deps, request, headers)
    query = queries.validate(request.query_params or {}, spec.query, ignore_unknown=spec.ignore_unknown_query)
    for name, schema in spec.path_params.items():
        schemas.validate(path_params[name], schema, name)
    body = _parse_body(spec, request, deps.settings.max_body_bytes)
    ctx = RequestContext(deps=deps, caller=caller, body=body, query=query, headers=headers,
                         source_ip=_source_ip(request), file=(request.raw_body or b"") if spec.file_media else b"")
    key = headers.get("idempotency-key")
    if spec.idempotent and key:
        return _idempotent(spec, ctx, key, request, lambda: handler(ctx, **path_params))
    return handler(ctx, **path_params)


def _idempotent(spec: RouteSpec, ctx: RequestContext, key: str, request, run: Callable[[], Any]) -> Any:
    if not 1 <= len(key) <= 128:
        raise codes.INVALID_IDEMPOTENCY_KEY()
    store = ctx.deps.idempotency
    # The key is the caller's, for this organisation and this very resource.
    who = f"{ctx.caller.user.id}@{ctx.caller.organization_id}" if ctx.caller else (ctx.source_ip or "anonymous")
    resource = re.sub(r"{(\w+)}", lambda m: (request.uri_params or {}).get(m.group(1), ""), spec.path)
    scope = f"{who}:{spec.method} {resource}"
    request_hash = hashlib.sha256(request.raw_body or b"").hexdigest()
    now = ctx.deps.clock()
    existing = store.claim(scope, key, request_hash, now, now + IDEMPOTENCY_IN_PROGRESS)
    if existing is not None:
        return _replay(existing, request_hash)
    try:
        result = _respond(spec, run())
        body = result.body if not isinstance(result.body, (bytes, str)) or result.body else None
        if spec.replay_without and isinstance(body, dict):
            body = {k: (None if k in spec.replay_without else v) for k, v in body.items()}
        store.complete(scope, key, result.status_code, body, now + IDEMPOTENCY_MEMORY)
    except BaseException:
        store.release(scope, key)
        raise
    return result


def _replay(existing, request_hash: str) -> Response:
    if existing.request_hash != request_hash:
        raise codes.IDEMPOTENCY_KEY_REUSED()
    if existing.status != "completed":
        raise codes.IDEMPOTENCY_IN_PROGRESS()
    return Response(body=existing.response_body if existing.response_body is not None else "",
                    status_code=int(existing.response_status),
                    headers={"Content-Type": "application/json", "Idempotent-Replayed": "true"})


class PortalChalice(Chalice):
    """Chalice, with the request being answered kept per thread.

    Chalice keeps `current_request` (and `lambda_context`) on the app object: right on Lambda, where
    a process answers one request at a time, but the local server (`make run`) and the tests answer
    several at once on threads of one app, and a request could then read another's headers — its
    Idempotency-Key, its token. Per thread, each request reads its own."""

    @property
    def _per_thread(self) -> threading.local:
        local = self.__dict__.get("_thread_state")
        if local is None:
            local = self.__dict__.setdefault("_thread_state", threading.local())
        return local

    @property
    def current_request(self):
        return getattr(self._per_thread, "request", None)

    @current_request.setter
    def current_request(self, value) -> None:
        self._per_thread.request = value

    @property
    def lambda_context(self):
        return getattr(self._per_thread, "context", None)

    @lambda_context.setter
    def lambda_context(self, value) -> None:
        self._per_thread.context = value
