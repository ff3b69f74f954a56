"""``opsflow-manage db upgrade``: create or migrate the persistence store.

``opsflow-run`` upgrades the store on first use too; this command lets an
operator do it ahead of time (for example before a fleet of hosts starts
using a shared PostgreSQL), with the same configuration files.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from opsflow.cli.exits import ExitCode, report_error

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opsflow-manage", description="Manage opsflow's persistence store."
    )
    parser.add_argument("--config-file", action="append", default=[], metavar="F")
    parser.add_argument("--config-dir", action="append", default=[], metavar="D")
    parser.add_argument("--debug", action="store_true")
    groups = parser.add_subparsers(dest="group", required=True)
    db = groups.add_parser("db", help="the persistence store")
    actions = db.add_subparsers(dest="action", required=True)
    actions.add_parser("upgrade", help="create or migrate the schema to the latest")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        from opsflow.conf import loader
        from opsflow.plugins.catalog import Catalog
        from opsflow.runs import store

        conf = loader.load(args.config_file, args.config_dir)
        backend = store.open_backend(conf, Catalog())
        print(f"opsflow-manage: {store.describe(conf)} is up to date")
        backend.close()
    except Exception as exc:
        return report_error(exc, args.debug, prog="opsflow-manage")
    return ExitCode.SUCCESS


if __name__ == "__main__":
    sys.exit(main())
