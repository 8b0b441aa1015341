"""The operators' bank return files: a CNAB 240 retorno settles the boletos it says were paid."""
from chalice import Blueprint

from ..domain.limits import CNAB_RETURN_MAX_BYTES
from ..domain.roles import Capability
from ..schemas import declared_in
from .http import endpoint

# Deferred (lean API function, issue #22 §3): the bank returns' service (CNAB 240, payments) is
# imported by the route on first use; its shape is named by reference (schemas.declared_in).

bp = Blueprint(__name__)


@endpoint(bp, "/backoffice/payments/cnab", "POST",
          summary="Importar um arquivo de retorno CNAB 240 (cobrança): cada boleto liquidado baixa sua fatura "
                  "(operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice",
          response=declared_in("chalicelib.services.bank_returns", "CnabImport"),
          file_media=("text/plain", "application/octet-stream"), max_body_bytes=CNAB_RETURN_MAX_BYTES)
def import_cnab(ctx):
    from ..services import bank_returns

    return bank_returns.import_return_file(ctx.deps, ctx.caller, ctx.file)
