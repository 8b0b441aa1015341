"""The bank's payment webhook: public, its secret in the path (services/bank_webhooks.py)."""
from chalice import Blueprint

from ..services import bank_webhooks
from .http import endpoint

bp = Blueprint(__name__)


@endpoint(bp, "/webhooks/bank/{token}", "POST",
          summary="Notificação de pagamento do banco (webhook de boletos): cada boleto citado que a API do banco "
                  "confirma pago baixa sua fatura. `token`: o segredo registrado no banco (outro: 404)",
          capability=None, tag="webhooks", response=bank_webhooks.BANK_WEBHOOK_RECEIVED,
          file_media=("application/json",), max_body_bytes=bank_webhooks.MAX_BODY_BYTES, errors=(404, 503),
          gate=lambda deps, path: bank_webhooks.check_token(deps, path["token"]))
def bank_webhook(ctx, token):
    return bank_webhooks.receive(ctx.deps, token, ctx.file)
