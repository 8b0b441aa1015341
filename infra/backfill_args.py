"""The command line every backfill takes (`--stage`, `--table`, `--region`), in one place."""
from __future__ import annotations

import argparse
import json
import os
from typing import Any, Callable, Dict, Optional, Sequence, Tuple


def table_and_region(description: str, argv: Optional[Sequence[str]] = None) -> Tuple[str, str]:
    """The table (`--table`, else csp-portal-<stage>) and the region a backfill runs against."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--stage", default=os.environ.get("CSP_STAGE", "dev"), help="the stage (table csp-portal-<stage>)")
    parser.add_argument("--table", default=os.environ.get("TABLE_NAME"), help="the table's name, instead of the stage's")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                        or "sa-east-1")
    args = parser.parse_args(argv)
    return args.table or f"csp-portal-{args.stage}", args.region


def run_backfill(description: str, deps_for: Callable[[str, str], Any], backfill: Callable[[Any], Dict[str, Any]],
                 argv: Optional[Sequence[str]] = None) -> int:
    """A backfill's command: against the table the arguments name, its outcome printed as JSON;
    exit 1 when any item failed (logged; a rerun resumes it)."""
    table, region = table_and_region(description, argv)
    done = backfill(deps_for(table, region))
    print(json.dumps(done))
    return 1 if done["failed"] else 0
