"""make bench: run every benchmark section on SQLite and (if configured) PostgreSQL."""

from __future__ import annotations

import argparse
import importlib
import logging
import platform
import sys

from bench.common import Result, backends, table

logger = logging.getLogger(__name__)

# Each section module exposes run(backend: str, small: bool) -> list[Result].
SECTIONS = ["bench.handlers", "bench.speed", "bench.importing", "bench.reminders",
            "bench.legacy", "bench.burst", "bench.labels"]


def main(argv: list[str] | None = None) -> int:
    """Run the sections and print one table; exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--small", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], action="append",
                        help="limit to a backend (default: all configured)")
    parser.add_argument("--section", action="append", help="limit to a section module name")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results: list[Result] = []
    for name in SECTIONS:
        if args.section and name.rsplit(".", 1)[-1] not in args.section:
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        for backend in args.backend or backends():
            results.extend(module.run(backend, args.small))
    print(f"machine: {platform.machine()} {platform.processor() or ''} python "
          f"{platform.python_version()} {platform.system()}")
    print(table(results))
    print("Judged (yes/NO): ratios to baselines of this run; (yes)/(no): absolute targets, "
          "reported only.")
    return 0 if args.small or all(r.ok for r in results if r.judged) else 1


if __name__ == "__main__":
    sys.exit(main())
