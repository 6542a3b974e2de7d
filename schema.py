"""Schema migrations: apply the committed peewee-migrate files, create new ones, diff models."""

from __future__ import annotations

import logging
from pathlib import Path

import peewee as pw
from peewee_migrate import Router
from peewee_migrate.auto import diff_many

from models import MODELS

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
IGNORED = ["basemodel"]


def make_router(database: pw.Database) -> Router:
    """A peewee-migrate router over the committed migrations folder."""
    return Router(database, migrate_dir=MIGRATIONS_DIR, ignore=IGNORED, logger=logger)


def apply_migrations(database: pw.Database) -> list[str]:
    """Apply pending migrations; call once at start-up before any thread starts."""
    router = make_router(database)
    pending = router.diff
    if pending:
        router.run()
        logger.info("applied migrations: %s", ", ".join(pending))
    return pending


def schema_version(database: pw.Database) -> str:
    """Name of the last applied migration."""
    done = make_router(database).done
    return done[-1] if done else ""


def model_drift(database: pw.Database) -> list[str]:
    """Changes an auto-migration would make to bring the migrations up to the models."""
    router = make_router(database)
    migrator = router.migrator
    for name in router.diff:
        router.run_one(name, migrator, fake=True)
    models: list[type[pw.Model]] = list(MODELS)
    changes = diff_many(models, list(migrator.orm), migrator)
    return changes


def create_migration(database: pw.Database, name: str) -> str | None:
    """Write a new migration file with whatever the models changed."""
    return make_router(database).create(name, auto=MODELS)


def main(argv: list[str] | None = None) -> int:
    """python -m schema status|upgrade|rollback --yes: operate on DATABASE_URL's migrations."""
    import argparse
    import sys

    from cli import EXIT_CONFIG, config_or_report
    from models import init_db

    parser = argparse.ArgumentParser(prog="python -m schema", description=main.__doc__)
    parser.add_argument("command", choices=["status", "upgrade", "rollback"])
    parser.add_argument("--yes", action="store_true",
                        help="confirm a rollback (it drops what the migration created)")
    args = parser.parse_args(argv)
    config = config_or_report("schema", None, require_token=False)
    if config is None:
        return EXIT_CONFIG
    if config.database_url.startswith("sqlite:///"):
        Path(config.database_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    database = init_db(config.database_url)
    try:
        database.connect()
    except pw.DatabaseError as exc:
        print(f"schema: DATABASE_URL: cannot open the database: {exc}".strip(), file=sys.stderr)
        return 1
    router = make_router(database)
    if args.command == "status":
        for name in router.done:
            print(f"applied  {name}")
        for name in router.diff:
            print(f"pending  {name}")
    elif args.command == "upgrade":
        applied = apply_migrations(database)
        print("applied: " + (", ".join(applied) if applied else "nothing, already up to date"))
    else:
        if not router.done:
            print("schema: nothing to roll back", file=sys.stderr)
            return 1
        if not args.yes:
            print(f"schema: rolling back {router.done[-1]} drops what it created; take a dump "
                  "first (/dev → dump, or pg_dump), then repeat with --yes", file=sys.stderr)
            return 2
        name = router.done[-1]
        router.rollback()
        print(f"rolled back: {name}")
    database.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
