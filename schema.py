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
    changes = diff_many(MODELS, list(migrator.orm), migrator)
    return changes


def create_migration(database: pw.Database, name: str) -> str | None:
    """Write a new migration file with whatever the models changed."""
    return make_router(database).create(name, auto=MODELS)
