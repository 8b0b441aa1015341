"""The bank's payment webhook: public, its secret in the path (services/bank_webhooks.py)."""
from chalice import Blueprint

from ..domain.limits import BANK_WEBHOOK_MAX_BYTES
from ..schemas import declared_in
from .http import endpoint

# Deferred (lean API function, issue #22 §3): the bank webhook's service (the bank's adapter,
# payments) is imported on first use; its shape is named by reference (schemas.declared_in).

bp = Blueprint(__name__)


def _token_known(deps, path):
    from ..services import bank_webhooks

    return bank_webhooks.check_token(deps, path["token"])


@endpoint(bp, "/webhooks/bank/{token}", "POST",
          summary="Notificação de pagamento do banco (webhook de boletos): cada boleto citado que a API do banco "
                  "confirma pago baixa sua fatura. `token`: o segredo registrado no banco (outro: 404)",
          capability=None, tag="webhooks",
          response=declared_in("chalicelib.services.bank_webhooks", "BankWebhookReceived"),
          file_media=("application/json",), max_body_bytes=BANK_WEBHOOK_MAX_BYTES, errors=(404, 503),
          gate=_token_known)
def bank_webhook(ctx, token):
    from ..services import bank_webhooks

    return bank_webhooks.receive(ctx.deps, token, ctx.file)
