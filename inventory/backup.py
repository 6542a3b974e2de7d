"""Full dumps and restores of the database, and the wipe: plain functions over peewee.

A dump is a zip with one JSON file per table (`<table>.json`: a list of rows ordered by primary
key, each row an object keyed by column name; dates and datetimes as ISO strings) and
`manifest.json` (app, format, created time, schema version, row count per table). The same
module serves the bot (backups before destructive actions) and `python -m jobs.restore`.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import peewee as pw

from cli import first_line
from inventory import jsontext
from inventory.rows import primary_key, tuples
from models import DERIVED_MODELS, MODELS
from schema import apply_migrations, make_router, schema_version

logger = logging.getLogger(__name__)

APP_NAME = "devtrack"
DUMP_FORMAT = 1
MANIFEST = "manifest.json"
HISTORY_TABLE = "migratehistory"  # peewee-migrate's record of applied migrations
INSERT_BATCH = 500

# Tables in an order where every row's foreign keys point at rows inserted before it.
ORDERED_MODELS: list[type[pw.Model]] = pw.sort_models(MODELS)  # type: ignore[attr-defined]  # public in peewee, missing from its stubs


class BackupError(Exception):
    """A dump cannot be made, read or restored; the message is one line for the operator."""


@dataclass
class DumpFile:
    """A finished dump: the zip bytes and what it holds."""

    data: bytes
    counts: dict[str, int]
    schema_version: str
    created_at: datetime

    @property
    def total(self) -> int:
        """Rows in every table together."""
        return sum(self.counts.values())

    @property
    def file_name(self) -> str:
        """devtrack-dump-YYYYmmdd-HHMMSS.zip."""
        return f"{APP_NAME}-dump-{self.created_at:%Y%m%d-%H%M%S}.zip"


@dataclass
class Dump:
    """A dump read back from its zip and validated: the manifest and rows per table."""

    manifest: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def schema_version(self) -> str:
        """The schema version the dump was made on."""
        return str(self.manifest.get("schema_version", ""))

    @property
    def counts(self) -> dict[str, int]:
        """Row count per table, from the manifest."""
        return dict(self.manifest["tables"])


def table_name(model: type[pw.Model]) -> str:
    """The SQL table of a model."""
    return model._meta.table_name


def _columns(model: type[pw.Model]) -> list[pw.Field]:
    """Every field of a model, in declaration order."""
    return list(model._meta.sorted_fields)


def table_rows(model: type[pw.Model]) -> list[dict[str, Any]]:
    """Every row of a table keyed by column name, by primary key (dates stay dates: the
    dump's encoder writes them in ISO form)."""
    fields = _columns(model)
    names = [f.column_name for f in fields]
    query = tuples(model.select(*fields).order_by(model._meta.primary_key))
    return [dict(zip(names, row, strict=True))
            for row in query]


def row_counts() -> dict[str, int]:
    """Rows per table (every model)."""
    return {table_name(m): m.select().count() for m in ORDERED_MODELS}


@contextmanager
def snapshot(database: pw.Database) -> Iterator[None]:
    """A read transaction that sees one consistent state of every table."""
    with database.atomic():
        if isinstance(database, pw.PostgresqlDatabase):
            database.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def make_dump(database: pw.Database, now: datetime) -> DumpFile:
    """Dump every table into a zip of JSON files plus a manifest."""
    version = schema_version(database)
    buffer = io.BytesIO()
    counts: dict[str, int] = {}
    with snapshot(database), zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for model in ORDERED_MODELS:
            rows = table_rows(model)
            counts[table_name(model)] = len(rows)
            archive.writestr(f"{table_name(model)}.json",
                             jsontext.dump_file(rows))
        manifest = {
            "app": APP_NAME,
            "format": DUMP_FORMAT,
            "created_at": now.replace(microsecond=0).isoformat() + "Z",
            "schema_version": version,
            "database": "postgresql" if isinstance(database, pw.PostgresqlDatabase)
            else "sqlite",
            "tables": counts,
        }
        archive.writestr(MANIFEST, jsontext.dump_file(manifest))
    dump = DumpFile(buffer.getvalue(), counts, version, now)
    logger.info("dump made: %d rows, %d bytes, schema %s", dump.total, len(dump.data), version)
    return dump


# --------------------------------------------------------------------------- reading a dump


def _load_json(archive: zipfile.ZipFile, name: str) -> Any:
    """A JSON member of the zip; BackupError when missing or malformed."""
    try:
        raw = archive.read(name)
    except KeyError:
        raise BackupError(f"{name} is missing: not a complete {APP_NAME} dump") from None
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError) as exc:
        raise BackupError(f"{name} cannot be read from the zip: {exc}") from None
    try:
        return json.loads(raw.decode())  # bytes.decode is always UTF-8
    except (UnicodeDecodeError, ValueError) as exc:
        raise BackupError(f"{name} is not valid JSON: {exc}") from None


def _check_manifest(manifest: Any) -> dict[str, Any]:
    """The manifest, or BackupError naming what is wrong with it."""
    if not isinstance(manifest, dict) or manifest.get("app") != APP_NAME:
        raise BackupError(f"{MANIFEST} does not describe a {APP_NAME} dump")
    if manifest.get("format") != DUMP_FORMAT:
        raise BackupError(f"dump format {manifest.get('format')!r} is not supported "
                          f"(this version reads format {DUMP_FORMAT})")
    tables = manifest.get("tables")
    if not isinstance(tables, dict) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in tables.values()):
        raise BackupError(f"{MANIFEST} has no valid row counts per table")
    expected = {table_name(m) for m in ORDERED_MODELS}
    unknown, missing = sorted(set(tables) - expected), sorted(expected - set(tables))
    if unknown or missing:
        parts = ([f"unknown tables {', '.join(unknown)}"] if unknown else []) + (
            [f"missing tables {', '.join(missing)}"] if missing else [])
        raise BackupError(f"{MANIFEST} does not match this schema: {'; '.join(parts)}")
    if not isinstance(manifest.get("schema_version"), str):
        raise BackupError(f"{MANIFEST} has no schema version")
    return manifest


def read_dump(raw: bytes) -> Dump:
    """Open and validate a dump: manifest, one JSON list per table, counts, columns."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError):
        raise BackupError("the file is not a zip archive (corrupt or not a dump)") from None
    with archive:
        dump = Dump(_check_manifest(_load_json(archive, MANIFEST)))
        for model in ORDERED_MODELS:
            name = table_name(model)
            rows = _load_json(archive, f"{name}.json")
            if not isinstance(rows, list):
                raise BackupError(f"{name}.json is not a list of rows")
            if len(rows) != dump.counts[name]:
                raise BackupError(f"{name}.json has {len(rows)} rows, the manifest says "
                                  f"{dump.counts[name]}")
            columns = {f.column_name for f in _columns(model)}
            for number, row in enumerate(rows, start=1):
                if not isinstance(row, dict) or set(row) != columns:
                    raise BackupError(f"{name}.json row {number}: columns do not match the "
                                      f"table ({', '.join(sorted(columns))})")
            dump.tables[name] = rows
    return dump


def _parse_value(column: pw.Field, value: Any, where: str) -> Any:
    """A JSON value back in the column's Python type."""
    if value is None:
        return None
    try:
        if isinstance(column, pw.DateTimeField):
            return datetime.fromisoformat(value)
        if isinstance(column, pw.DateField):
            return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise BackupError(f"{where}: {column.column_name} {value!r} is not an ISO date") from None
    return value


def _rows_to_insert(model: type[pw.Model], rows: list[dict[str, Any]]) -> list[tuple]:
    """Rows of one table as tuples in field order, dates parsed."""
    fields = _columns(model)
    name = table_name(model)
    return [
        tuple(_parse_value(f, row[f.column_name], f"{name}.json row {number}")
              for f in fields)
        for number, row in enumerate(rows, start=1)
    ]


# --------------------------------------------------------------------------- restoring


# PostgreSQL's statements, whole and built once: make test runs them on PostgreSQL
# (tests/test_backup_mutants.py); make mutation, on SQLite, never takes these branches.
_TRUNCATE_ALL = ("TRUNCATE " + ", ".join(f'"{table_name(m)}"' for m in ORDERED_MODELS)
                 + " RESTART IDENTITY CASCADE")
_SEQUENCE_RESETS = [
    (f'SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(MAX("{pk}"), 1), '
     f'MAX("{pk}") IS NOT NULL) FROM "{name}"', (name, pk))
    for name, pk in ((table_name(m), primary_key(m).column_name) for m in ORDERED_MODELS)
]


def empty_tables(database: pw.Database) -> None:
    """Delete every row of every table (children first); PostgreSQL restarts the ids."""
    if isinstance(database, pw.PostgresqlDatabase):
        database.execute_sql(_TRUNCATE_ALL)
        return
    for model in reversed(ORDERED_MODELS):
        model.delete().execute()


def reset_sequences(database: pw.Database) -> None:
    """PostgreSQL: move every id sequence past the highest restored id."""
    if not isinstance(database, pw.PostgresqlDatabase):
        return  # SQLite takes the next rowid after the highest one by itself
    for sql, params in _SEQUENCE_RESETS:
        database.execute_sql(sql, params)


def has_schema(database: pw.Database) -> bool:
    """Whether the database holds any devtrack table or migration history."""
    tables = set(database.get_tables())
    return bool(tables & ({table_name(m) for m in MODELS} | {HISTORY_TABLE}))


def latest_migration(database: pw.Database) -> str:
    """Name of the newest committed migration file (there is always at least one)."""
    return list(make_router(database).todo)[-1]


@dataclass
class RestoreReport:
    """What a restore did."""

    counts: dict[str, int]
    schema_version: str
    migrated: bool
    replaced: dict[str, int]

    @property
    def total(self) -> int:
        """Rows restored."""
        return sum(self.counts.values())


def restore(database: pw.Database, raw: bytes, *, force: bool = False) -> RestoreReport:
    """Load a dump into an empty database (force: empty it first); all or nothing."""
    dump = read_dump(raw)
    version, migrated = _schema_for(database, dump)
    existing = {name: n for name, n in row_counts().items() if n}
    if existing and not force:
        held = ", ".join(f"{name} {n}" for name, n in existing.items())
        raise BackupError(f"the database is not empty (rows: {held}): pass --force to replace "
                          "its contents with the dump")
    prepared = [(model, _rows_to_insert(model, dump.tables[table_name(model)]))
                for model in ORDERED_MODELS]
    try:
        with database.atomic():
            if existing:
                empty_tables(database)
            counts = _load(database, prepared, dump)
    except pw.PeeweeException as exc:
        raise BackupError(f"the database refused the dump: {first_line(exc)}") from None
    logger.info("restored %d rows (schema %s, replaced %d rows)", sum(counts.values()), version,
                sum(existing.values()))
    return RestoreReport(counts, version, migrated, existing)


def _schema_for(database: pw.Database, dump: Dump) -> tuple[str, bool]:
    """The database's schema version, migrated first when it has none; it must be the dump's."""
    migrated = False
    if not has_schema(database):
        # A brand-new database: create the schema the dump needs first (only if it matches).
        latest = latest_migration(database)
        if dump.schema_version != latest:
            raise BackupError(f"the dump has schema version {dump.schema_version or '(none)'}, "
                              f"this code creates {latest}: restore it with the matching version")
        apply_migrations(database)
        migrated = True
    version = schema_version(database)
    if dump.schema_version != version:
        raise BackupError(f"the dump has schema version {dump.schema_version or '(none)'}, "
                          f"the database has {version or '(none)'}: they must match")
    return version, migrated


def _load(database: pw.Database, prepared: list[tuple[type[pw.Model], list[Any]]],
          dump: Dump) -> dict[str, int]:
    """Insert the dump's rows (inside the caller's transaction) and check the counts."""
    for model, rows in prepared:
        fields = _columns(model)
        for start in range(0, len(rows), INSERT_BATCH):
            model.insert_many(rows[start:start + INSERT_BATCH], fields=fields).execute()
    reset_sequences(database)
    counts = row_counts()
    if counts != dump.counts:
        wrong = ", ".join(f"{name} {counts[name]} instead of {dump.counts[name]}"
                          for name in counts if counts[name] != dump.counts[name])
        raise BackupError(f"row counts after the restore do not match: {wrong}")
    return counts


# --------------------------------------------------------------------------- wipe


def wipe(database: pw.Database) -> str:
    """Drop every table and the migration history, then apply the migrations again.

    One transaction on both databases (their DDL is transactional): if a migration fails,
    nothing is lost. The history is emptied first, so peewee-migrate runs every migration for
    real and never replays done ones with its global patches (docs/DEVELOPING.md, pitfalls).
    """
    with database.atomic():
        # IF EXISTS: peewee's default (safe=True). The derived tables too: their foreign keys
        # would keep PostgreSQL from dropping `category`, and their migration creates them anew.
        database.drop_tables([*MODELS, *DERIVED_MODELS])
        database.execute_sql(f'DROP TABLE IF EXISTS "{HISTORY_TABLE}"')
        apply_migrations(database)
    version = schema_version(database)
    logger.info("database wiped; migrations applied again up to %s", version)
    return version
