"""Mark the credit notes left from before their markers in the organisations' item collections
(issue #22 §1): `python -m infra.backfill_credit_markers --stage dev` (or TABLE_NAME=… for another
table; AWS credentials and region as for any boto3 script, AWS_ENDPOINT_URL for the embedded AWS of
`make run`).

Safe to run at any time and any number of times, and resumable: its work list is every organisation
(the index by name) and each one's notes left as the credit index has them; a marker is written only
where it is missing and only while its note is as read (services/credit_markers.backfill_credit_markers).
No Scan. Until a run of it finds every note marked (and writes the marker that says so, `"marked":
true`), the billing runs' workers query the credit index as before: nothing is missed meanwhile.
Prints what it found, marked and failed.
"""
from __future__ import annotations

import sys
from types import SimpleNamespace

from infra.backfill_args import run_backfill


def deps_for(table_name: str, region: str) -> SimpleNamespace:
    """Only what the backfill reads and writes: the organisations, the credit notes (and the time of its marker)."""
    from pynamodb.connection import Connection

    from chalicelib.domain.clock import system_clock
    from chalicelib.storage import repositories
    from chalicelib.storage.billing import InvoiceRepository
    from chalicelib.storage.models import bind_table

    bind_table(table_name, region)
    transaction = repositories.Transaction(Connection(region=region))
    return SimpleNamespace(organizations=repositories.OrganizationRepository(transaction),
                           invoices=InvoiceRepository(transaction), clock=system_clock)


def main(argv=None) -> int:
    from chalicelib.services.credit_markers import backfill_credit_markers

    return run_backfill("Mark the credit notes left in their organisations' collections.", deps_for, backfill_credit_markers, argv)


if __name__ == "__main__":
    sys.exit(main())
