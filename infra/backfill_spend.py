"""Count into the spend aggregate (issue #21 §1) the invoices issued before it existed:
`python -m infra.backfill_spend --stage dev` (or TABLE_NAME=… for another table; AWS credentials
and region as for any boto3 script, AWS_ENDPOINT_URL for the embedded AWS of `make run`).

Safe to run at any time and any number of times: each invoice is counted in the transaction that
writes its marker, only if it has none (or a `pending` one), so a second run counts nothing and
an invoice issued or cancelled meanwhile is counted by its own transaction, not here
(services/spend.backfill_spend). Reads every organisation (pattern 2) and its invoices (20b): no Scan.
"""
from __future__ import annotations

import json
import sys
from types import SimpleNamespace

from infra.backfill_args import table_and_region


def deps_for(table_name: str, region: str) -> SimpleNamespace:
    """Only what the backfill reads and writes: organisations, invoices, the aggregate."""
    from pynamodb.connection import Connection

    from chalicelib.storage import billing, repositories, spend
    from chalicelib.storage.models import bind_table

    bind_table(table_name, region)
    transaction = repositories.Transaction(Connection(region=region))
    return SimpleNamespace(organizations=repositories.OrganizationRepository(transaction),
                           invoices=billing.InvoiceRepository(transaction), spend=spend.SpendRepository(transaction))


def main(argv=None) -> int:
    table, region = table_and_region("Count the invoices issued before the spend aggregate into it.", argv)
    from chalicelib.services.spend import backfill_spend

    done = backfill_spend(deps_for(table, region))
    print(json.dumps(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
