"""`GET /openapi.json`: OpenAPI 3.1, built from the routes registered through `endpoint`.

Each operation names the capability it needs (`x-required-capability`) and the profiles that hold
it (`x-allowed-roles`), so clients and the permission tests read one source. `x-error-codes` lists
every error code of the catalogue with its status and its message (`{placeholders}` are filled
from the error's details). Query parameters are the very declarations the pipeline validates: a
parameter not listed is refused (400), except on operations marked
`x-unknown-query-parameters: ignored`.
"""
import importlib
import re
from typing import Any, Dict

from chalice import Blueprint

from ..domain import error_codes as _declared  # noqa: F401 - importing it declares every code in CATALOGUE
from ..domain.errors import CATALOGUE
from ..domain.roles import roles_allowed
from ..schemas import COMPONENTS, DECLARED_LATER
from . import query
from .errors import INTERNAL_ERROR, status_of_kind
from .http import ROUTES, RouteSpec, endpoint

bp = Blueprint(__name__)

def _error_schema() -> Dict[str, Any]:
    """The one error shape; `code` is one of the catalogue's, so a client can switch on it."""
    return {
        "type": "object", "required": ["error"], "additionalProperties": False,
        "properties": {"error": {
            "type": "object", "required": ["code", "message", "details"], "additionalProperties": False,
            "properties": {"code": {"type": "string", "enum": sorted([*CATALOGUE, INTERNAL_ERROR])},
                           "message": {"type": "string", "description": "pt-BR, para mostrar ao usuário"},
                           "details": {"type": "object", "description": "o campo e os limites em questão"}},
        }},
    }


_ERROR_TEXT = {
    "400": "Entrada inválida", "401": "Não autenticado", "403": "Perfil sem permissão",
    "404": "Não encontrado (inclui objetos de outra organização)", "409": "Conflito de versão ou estado",
    "413": "Corpo grande demais", "415": "Tipo de conteúdo não suportado", "422": "Regra de negócio",
    "429": "Muitas requisições (limite da rota ou do API Gateway); tente de novo mais tarde",
    "503": "Banco ou emissor de NFS-e fora do ar: nada foi alterado; tente de novo mais tarde",
}


def _parameters(spec: RouteSpec) -> list:
    params = [{"name": name, "in": "path", "required": True,
               "schema": spec.path_params.get(name, {"type": "string"})}
              for name in re.findall(r"{(\w+)}", spec.path)]
    params += [_query_parameter(name, schema) for name, schema in spec.query.items()]
    if spec.if_match:
        params.append({"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"},
                       "description": "A versão do objeto que o cliente viu; 409 se estiver desatualizada."})
    if spec.idempotent:
        params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                       "schema": {"type": "string", "maxLength": 128},
                       "description": "Uma repetição com a mesma chave devolve o primeiro resultado."})
    if spec.capability is not None:
        params.append({"name": "X-Organization-Id", "in": "header", "required": False,
                       "schema": {"type": "string"},
                       "description": "Somente operadores: a organização cliente sobre a qual agir."})
    # Every answer carries it back (chalicelib/observability.py); the log lines of the request and
    # of the work it queued carry it too.
    params.append({"name": "X-Correlation-Id", "in": "header", "required": False, "schema": {"type": "string"},
                   "description": "Opcional: identifica a requisição nos registros (até 64 caracteres de "
                                  "A-Z a-z 0-9 . _ : -; outro valor é substituído). Toda resposta o devolve no "
                                  "cabeçalho de mesmo nome (um novo quando ausente ou substituído)."})
    return params


def _query_parameter(name: str, schema: Dict[str, Any]) -> Dict[str, Any]:
    parameter = {"name": name, "in": "query", "required": query.is_required(schema),
                 "schema": query.published(schema)}
    if query.error_code(schema):
        parameter["x-error-code"] = query.error_code(schema)  # the code of every 400 for this parameter
    return parameter


def _success(spec: RouteSpec) -> Dict[str, Any]:
    if not spec.responses:
        return {"description": "Sem conteúdo"}
    return {"description": "OK", "content": {media: {"schema": schema} for media, schema in spec.responses.items()}}


def _operation(spec: RouteSpec) -> Dict[str, Any]:
    error_codes = ["400", "413", "429"] + (["415"] if spec.body is not None or spec.file_media else [])
    if spec.capability is not None:
        error_codes += ["401", "403", "404", "409", "422"]
    error_codes += [str(status) for status in spec.errors]
    operation: Dict[str, Any] = {
        "operationId": f"{spec.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', spec.path.lower()).strip('_')}",
        "summary": spec.summary,
        "tags": [spec.tag],
        "parameters": _parameters(spec),
        "responses": {str(status): _success(spec) for status in (spec.status, *spec.also_status)} | {
            str(status): {"description": "OK", "content": {"application/json": {"schema": schema}}}
            for status, schema in spec.other_responses.items()} | {
            code: {"description": _ERROR_TEXT[code],
                   "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            for code in sorted(set(error_codes))
        },
    }
    if spec.redirect:
        operation["responses"]["303"] = {"description": spec.redirect, "headers": {
            "Location": {"description": "O link (pré-assinado, de curta duração).",
                         "schema": {"type": "string", "format": "uri"}}}}
    if spec.capability is None:
        operation["security"] = []
    else:
        operation["x-required-capability"] = spec.capability.value
        operation["x-allowed-roles"] = sorted(r.value for r in roles_allowed(spec.capability))
    if spec.ignore_unknown_query:
        operation["x-unknown-query-parameters"] = "ignored"  # elsewhere they are a 400
    if spec.body is not None:
        operation["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": spec.body}}}
    if spec.file_media:
        # The file itself as the body, as the bank wrote it (bytes; Latin-1 text for a CNAB file).
        operation["requestBody"] = {"required": True, "content": {
            media: {"schema": {"type": "string", "format": "binary"}} for media in spec.file_media}}
        if spec.max_body_bytes:
            operation["x-max-body-bytes"] = spec.max_body_bytes
    return operation


def _load_declared_later() -> None:
    """The modules whose shapes routes name by reference (schemas.declared_in), loaded now: the
    document publishes every component a route points to."""
    for name, module in sorted(DECLARED_LATER.items()):
        importlib.import_module(module)
        if name not in COMPONENTS:
            raise LookupError(f"{module} declares no response shape {name!r}")


def document() -> Dict[str, Any]:
    _load_declared_later()
    paths: Dict[str, Dict[str, Any]] = {}
    for spec in ROUTES:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec)
    return {
        "openapi": "3.1.0",
        "info": {"title": "csp-portal API", "version": "1.0.0",
                 "description": "Portal Brasoftware Cloud: licenças, faturas, suporte e usuários."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": dict(sorted(paths.items())),
        "x-error-codes": {code: {"status": status_of_kind(error.kind), "message": error.message}
                          for code, error in sorted(CATALOGUE.items())},
        # What the customer's ERP receives from its webhooks (issue #21 §3).
        "webhooks": _webhooks(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {"Error": _error_schema(), **dict(sorted(COMPONENTS.items()))},
        },
    }


def _webhooks() -> Dict[str, Any]:
    from ..services.webhooks import webhook_payload_schemas

    return {event_type: {"post": {
        "summary": f"Evento {event_type}, enviado por POST ao endereço cadastrado em /webhooks",
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "parameters": _webhook_headers(event_type),
        "responses": {"200": {"description": "Recebido (qualquer 2xx); outra resposta é tentada de novo por 24 h."}},
    }} for event_type, schema in webhook_payload_schemas().items()}


# The headers of every delivery, and how the receiver checks the signature (the portal's integrator
# docs, README "Webhooks: events for your ERP", say the same with a Python example).
_SIGNATURE_HOW_TO = (
    "t=<segundos unix>,v1=<hex>. Para conferir: (1) leia o corpo cru, os bytes como chegaram (não o JSON "
    "reserializado); (2) separe o cabeçalho por ',' em pares chave=valor: t é o instante da assinatura, v1 a "
    "assinatura (pode haver mais de um v1; basta um conferir); (3) recuse se t estiver a mais de 5 minutos do seu "
    "relógio (repetição); (4) calcule HMAC-SHA256 com o segredo do webhook (whsec_…, em UTF-8) como chave sobre "
    "\"<t>.<corpo>\" e escreva-o em hexadecimal; (5) compare com cada v1 em tempo constante (hmac.compare_digest); "
    "nenhum igual: recuse. Só então leia o JSON.")


def _webhook_headers(event_type: str) -> list:
    return [
        {"name": "X-CSP-Signature", "in": "header", "required": True, "schema": {"type": "string"},
         "description": _SIGNATURE_HOW_TO},
        {"name": "X-CSP-Event-Id", "in": "header", "required": True, "schema": {"type": "string"},
         "description": "O id do evento (evt_…), igual ao campo id: o mesmo em toda tentativa e reenvio."},
        {"name": "X-CSP-Event-Type", "in": "header", "required": True,
         "schema": {"type": "string", "enum": [event_type]}, "description": "O tipo do evento, igual ao campo type."},
    ]


@endpoint(bp, "/openapi.json", "GET", summary="Esta descrição da API (OpenAPI 3.1)", capability=None, tag="meta",
          response={"type": "object", "description": "Um documento OpenAPI 3.1."})
def openapi(ctx):
    return document()
