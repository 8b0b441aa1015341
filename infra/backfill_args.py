"""The command line every backfill takes (`--stage`, `--table`, `--region`), in one place."""
from __future__ import annotations

import argparse
import os
from typing import Optional, Sequence, Tuple


def table_and_region(description: str, argv: Optional[Sequence[str]] = None) -> Tuple[str, str]:
    """The table (`--table`, else csp-portal-<stage>) and the region a backfill runs against."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--stage", default=os.environ.get("CSP_STAGE", "dev"), help="the stage (table csp-portal-<stage>)")
    parser.add_argument("--table", default=os.environ.get("TABLE_NAME"), help="the table's name, instead of the stage's")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                        or "sa-east-1")
    args = parser.parse_args(argv)
    return args.table or f"csp-portal-{args.stage}", args.region
