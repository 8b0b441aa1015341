"""Move the contracts written before the closing-day index was sharded (issue #22 §4) to their
shards: `python -m infra.backfill_closing_shards --stage dev` (or TABLE_NAME=… for another table;
AWS credentials and region as for any boto3 script, AWS_ENDPOINT_URL for the embedded AWS of
`make run`).

Safe to run at any time and any number of times, and resumable: each contract moves by an update
of its index keys on the condition that it is still in the unsharded partition, which is also the
work list (services/closing_shards.backfill_closing_shards). No Scan. Until a run of it finds none
to move (and writes the marker that says so, `"marked": true`), the billing runs read the unsharded
partitions too: nothing is missed meanwhile. Prints what it found, moved, skipped and failed.
"""
from __future__ import annotations

import sys
from types import SimpleNamespace

from infra.backfill_args import run_backfill


def deps_for(table_name: str, region: str) -> SimpleNamespace:
    """Only what the backfill reads and writes: the contracts (and the time of its marker)."""
    from pynamodb.connection import Connection

    from chalicelib.domain.clock import system_clock
    from chalicelib.storage import repositories
    from chalicelib.storage.models import bind_table

    bind_table(table_name, region)
    return SimpleNamespace(contracts=repositories.ContractRepository(repositories.Transaction(Connection(region=region))),
                           clock=system_clock)


def main(argv=None) -> int:
    from chalicelib.services.closing_shards import backfill_closing_shards

    return run_backfill("Move the contracts of the unsharded closing-day index to their shards.", deps_for, backfill_closing_shards, argv)


if __name__ == "__main__":
    sys.exit(main())
