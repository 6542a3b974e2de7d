"""Restore a dump made by the bot (/dev → «Дамп», or the backup sent before purge and wipe).

    python -m jobs.restore FILE.zip [--force]

Loads the dump into the database named by DATABASE_URL (environment or .env). A database with
no devtrack tables at all gets the migrations applied first (only when the dump's schema version
is the newest migration of this code); otherwise the database's schema version must equal the
dump's. A database that holds any row is refused unless --force is given, which empties every
table first. Everything happens in one transaction: on any error nothing changes. Stop the bot
while restoring. Exit status 0 on success, 1 with one line on stderr otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import peewee as pw
from playhouse.pool import PooledPostgresqlDatabase

from cli import environment, first_line
from config import Config
from inventory.backup import BackupError, restore
from models import db, make_database

logger = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = next(str(f.default) for f in dataclasses.fields(Config)
                            if f.name == "database_url")
MAX_DUMP_BYTES = 2 * 1024 * 1024 * 1024


def _fail(message: str) -> int:
    """Print one line on stderr and return the failure status."""
    print(f"restore: {message}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Restore FILE.zip into DATABASE_URL; 0 on success, 1 with one line on stderr otherwise."""
    environ = environment(environ)
    parser = argparse.ArgumentParser(
        prog="python -m jobs.restore",
        description="Load a devtrack dump (zip) into the database named by DATABASE_URL. "
                    "An empty database gets the migrations first; a non-empty one is refused "
                    "unless --force is given.",
    )
    parser.add_argument("file", help="the dump: a zip made by the bot")
    parser.add_argument("--force", action="store_true",
                        help="empty a non-empty database first (every row is replaced)")
    args = parser.parse_args(argv)

    try:
        if Path(args.file).stat().st_size > MAX_DUMP_BYTES:
            return _fail(f"{args.file} is larger than {MAX_DUMP_BYTES // 1024 // 1024} MB")
        raw = Path(args.file).read_bytes()
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc.strerror or exc}")

    url = (environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL).strip()
    try:
        database = make_database(url)
    except ValueError as exc:
        return _fail(f"DATABASE_URL: {exc}")
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    db.initialize(database)
    try:
        database.connect(reuse_if_open=True)
        report = restore(database, raw, force=args.force)
    except BackupError as exc:
        return _fail(str(exc))
    except (pw.PeeweeException, OSError) as exc:
        return _fail(f"DATABASE_URL: cannot use the database: {first_line(exc)}")
    finally:
        database.close()
        if isinstance(database, PooledPostgresqlDatabase):
            database.close_all()
    notes = []
    if report.migrated:
        notes.append("migrations applied to the empty database first")
    if report.replaced:
        notes.append(f"{sum(report.replaced.values())} existing rows replaced")
    tables = ", ".join(f"{name} {n}" for name, n in report.counts.items())
    print(f"restored {report.total} rows (schema {report.schema_version}): {tables}"
          + (f"; {'; '.join(notes)}" if notes else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
