"""The operators' bank return files: a CNAB 240 retorno settles the boletos it says were paid."""
from chalice import Blueprint

from ..domain.roles import Capability
from ..services import bank_returns
from .http import endpoint

bp = Blueprint(__name__)


@endpoint(bp, "/backoffice/payments/cnab", "POST",
          summary="Importar um arquivo de retorno CNAB 240 (cobrança): cada boleto liquidado baixa sua fatura "
                  "(operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", response=bank_returns.CNAB_IMPORT,
          file_media=("text/plain", "application/octet-stream"), max_body_bytes=bank_returns.MAX_FILE_BYTES)
def import_cnab(ctx):
    return bank_returns.import_return_file(ctx.deps, ctx.caller, ctx.file)
