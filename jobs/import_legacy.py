"""Switch over from the predecessor bot: a dry-run report, or the whole import in one transaction.

    python -m jobs.import_legacy postgresql://user:pass@old-host/zoo            # dry run
    python -m jobs.import_legacy postgresql://user:pass@old-host/zoo --apply    # write it

The URL may be left out when LEGACY_DATABASE_URL is set (keeps the password out of the shell
history and the process list). devtrack's database is DATABASE_URL (environment or .env), with
every migration applied (`python -m schema upgrade`). The predecessor is only read, in one
read-only transaction. The report goes to stdout (and to --report FILE); the password never
appears in it. Exit status 0 on success, 1 with one line on stderr otherwise.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import peewee as pw
from playhouse.pool import PooledPostgresqlDatabase

from cli import environment, first_line
from config import ConfigError, load_config
from inventory import legacy_apply
from inventory.errors import Conflict
from inventory.legacy_read import LegacyError, read_legacy, redact, safe_url
from models import db, make_database, utcnow
from notices.legacy_report import render
from schema import make_router

logger = logging.getLogger(__name__)


def _fail(message: str) -> int:
    """Print one line on stderr and return the failure status."""
    print(f"import_legacy: {message}", file=sys.stderr)
    return 1


def local_clock(tz: ZoneInfo) -> Callable[[datetime], datetime]:
    """Naive UTC → naive local time in tz, for the report."""
    return lambda moment: moment.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)


def run(url: str, *, apply: bool, tz_name: str, email_domains: tuple[str, ...],
        now: datetime) -> str:
    """Read the predecessor, plan against devtrack (and write it when apply); the report."""
    tz = ZoneInfo(tz_name)
    legacy = read_legacy(url)
    job = legacy_apply.apply if apply else legacy_apply.dry_run
    outcome = job(legacy, tz=tz, now=now, email_domains=email_domains)
    return render(outcome, source=safe_url(url), timezone=tz_name, local=local_clock(tz))


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
         now: datetime | None = None) -> int:
    """Dry run or --apply; 0 on success, 1 with one line on stderr otherwise."""
    environ = environment(environ)
    parser = argparse.ArgumentParser(
        prog="python -m jobs.import_legacy",
        description="Import the predecessor bot's PostgreSQL database into devtrack "
                    "(DATABASE_URL). Without --apply nothing is written: a report only.")
    parser.add_argument("url", nargs="?", default="",
                        help="postgresql://user:password@host:5432/db of the predecessor "
                             "(default: LEGACY_DATABASE_URL)")
    parser.add_argument("--apply", action="store_true",
                        help="write everything in one transaction (default: dry run)")
    parser.add_argument("--timezone", default="",
                        help="zone of the predecessor's naive timestamps (default: TIMEZONE)")
    parser.add_argument("--report", default="", help="also write the report to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    try:
        config = load_config(environ, require_token=False)
    except ConfigError as err:
        return _fail("; ".join(err.problems))
    url = (args.url or config.legacy_database_url).strip()
    if not url:
        return _fail("give the predecessor's postgresql:// URL or set LEGACY_DATABASE_URL")
    tz_name = args.timezone or config.timezone
    try:
        ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        return _fail(f"--timezone: unknown time zone {tz_name!r} (e.g. Europe/Moscow)")

    database = make_database(config.database_url)
    db.initialize(database)
    try:
        database.connect(reuse_if_open=True)
        pending = make_router(database).diff
        if pending:
            return _fail(f"DATABASE_URL has pending migrations ({', '.join(pending)}): "
                         "run `python -m schema upgrade` first")
        report = run(url, apply=args.apply, tz_name=tz_name,
                     email_domains=config.email_domains, now=now or utcnow())
    except LegacyError as exc:
        return _fail(str(exc))
    except Conflict:
        return _fail("devtrack changed during the import (a registration or a new device "
                     "took one of these emails, ids or serials); nothing was written, "
                     "run it again")
    except (pw.PeeweeException, OSError) as exc:
        return _fail(redact(f"DATABASE_URL: cannot use the database: {first_line(exc)}",
                            url))
    finally:
        database.close()
        if isinstance(database, PooledPostgresqlDatabase):
            database.close_all()
    sys.stdout.write(report)
    if args.report:
        Path(args.report).write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
