"""A lean API function (issue #22 §3): the API function's handler is `app.app`, so what `import app`
loads is loaded before its first request (and by the event functions with the app's middleware).
The billing, documents, bank and NFS-e services, the PDF and DANFSe builders, the fiscal XML and
signing, and the libraries under them load on first use, in the functions and routes that use them
(bench/cold_start.py times it)."""
import json
import os
import subprocess
import sys

PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# What no route declaration needs: each loads when a route, worker or schedule first uses it.
NOT_AT_IMPORT = (
    # rendering: reportlab and the PDF/DANFSe builders; Jinja2 (the environment module itself is a
    # few lines the portal's page names, and it imports Jinja2 on the first render)
    "reportlab", "jinja2", "chalicelib.rendering.pdf", "chalicelib.rendering.danfse",
    # fiscal: the DPS, its signature and schemas, and their libraries
    "chalicelib.fiscal", "lxml", "nfelib", "xsdata", "cryptography",
    # the invoice's documents and the services that issue, correct or settle invoices
    "chalicelib.services.documents", "chalicelib.services.billing", "chalicelib.services.boleto_print",
    "chalicelib.services.boleto_registration", "chalicelib.services.corrections",
    "chalicelib.services.nfse_issuing", "chalicelib.services.payments", "chalicelib.services.receivables",
    "chalicelib.services.bank_returns", "chalicelib.services.bank_webhooks", "chalicelib.services.billing_watch",
    # the bank (simulator, Banco do Brasil, CNAB 240), the NFS-e emitters and the A1 certificate
    "chalicelib.adapters.bank", "chalicelib.adapters.bb_cobranca", "chalicelib.domain.cnab240",
    "chalicelib.adapters.nfse", "chalicelib.adapters.sefin_nacional", "chalicelib.adapters.certificates",
    # Brazilian holidays (billing days), Partner Center's HTTP client, the JWT library
    "holidays", "requests", "chalicelib.adapters.partner_center", "jwt",
)

LOADED = """
import json, sys
import app
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(code: str) -> set:
    env = {**os.environ, "AWS_DEFAULT_REGION": "sa-east-1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("LAMBDA_TASK_ROOT", None)
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_import_app_loads_no_rendering_fiscal_documents_billing_nor_bank_code():
    loaded = _modules_after(LOADED)
    assert "app" in loaded and "chalicelib.api.invoices" in loaded  # the routes are all declared
    found = sorted(m for m in loaded if any(m == heavy or m.startswith(heavy + ".") for heavy in NOT_AT_IMPORT))
    assert found == []


def test_the_deferred_services_still_load_where_they_are_used():
    """The other side: the modules that declare the shapes the routes name by reference load when
    /openapi.json is built (the integration tests run each route and worker, which import theirs)."""
    loaded = _modules_after("""
import json, sys
import app
from chalicelib.api.openapi import document
document()  # every shape a route names by reference: its module is loaded and declares it
print(json.dumps(sorted(sys.modules)))
""")
    assert {"chalicelib.services.billing", "chalicelib.services.documents", "chalicelib.services.corrections",
            "chalicelib.services.bank_returns", "chalicelib.services.bank_webhooks",
            "chalicelib.services.receivables"} <= loaded
    assert "reportlab" not in loaded and "chalicelib.fiscal" not in loaded  # still on a PDF's or a DPS's first use
