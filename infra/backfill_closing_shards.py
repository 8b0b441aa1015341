"""Move the contracts written before the closing-day index was sharded (issue #22 §4) to their
shards: `python -m infra.backfill_closing_shards --stage dev` (or TABLE_NAME=… for another table;
AWS credentials and region as for any boto3 script, AWS_ENDPOINT_URL for the embedded AWS of
`make run`).

Safe to run at any time and any number of times, and resumable: each contract moves by an update
of its index key on the condition that it is still in the unsharded partition, which is also the
work list (services/closing_shards.backfill_closing_shards). No Scan. Until it has run, the billing
runs read the unsharded partitions too: nothing is missed meanwhile.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from types import SimpleNamespace


def deps_for(table_name: str, region: str) -> SimpleNamespace:
    """Only what the backfill reads and writes: the contracts."""
    from pynamodb.connection import Connection

    from chalicelib.storage import repositories
    from chalicelib.storage.models import bind_table

    bind_table(table_name, region)
    return SimpleNamespace(contracts=repositories.ContractRepository(repositories.Transaction(Connection(region=region))))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Move the contracts of the unsharded closing-day index to their shards.")
    parser.add_argument("--stage", default=os.environ.get("CSP_STAGE", "dev"), help="the stage (table csp-portal-<stage>)")
    parser.add_argument("--table", default=os.environ.get("TABLE_NAME"), help="the table's name, instead of the stage's")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                        or "sa-east-1")
    args = parser.parse_args(argv)
    from chalicelib.services.closing_shards import backfill_closing_shards

    done = backfill_closing_shards(deps_for(args.table or f"csp-portal-{args.stage}", args.region))
    print(json.dumps(done))
    return 1 if done["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
