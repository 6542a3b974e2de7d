"""Peewee migrations -- 007_search_index.py: substring search served by an index on both databases.

SQLite: an FTS5 table with the trigram tokenizer over device.search_text (external content,
kept in step by triggers). PostgreSQL: a pg_trgm GIN index on device.search_text, and the
`devtrack_fold` function the search uses to match category names in the same statement
(SQLite gets the same function from the connection, see models.make_database).
A PostgreSQL without pg_trgm (or without the right to create it) keeps working with a
sequential scan; the migration says so in the log.
"""

import logging

import peewee as pw
from peewee_migrate import Migrator

logger = logging.getLogger(__name__)

FTS = "device_fts"
TRIGGERS = ("device_fts_ai", "device_fts_ad", "device_fts_au")
# lower() follows the database's LC_CTYPE; the explicit Cyrillic map makes «Ё»/«Я» fold in a
# "C" database too, and «ё» reads as «е» like Python's normalize() in inventory/devices.py.
UPPER = "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯё"
LOWER = "абвгдеежзийклмнопрстуфхцчшщъыьэюяе"
FOLD_FUNCTION = (
    "CREATE OR REPLACE FUNCTION devtrack_fold(value text) RETURNS text "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT btrim(regexp_replace("
    f"translate(lower(value), '{UPPER}', '{LOWER}'), '\\s+', ' ', 'g')) $$"
)


def _postgres_trigram(database: pw.Database) -> None:
    """pg_trgm and its GIN index, or a log line saying search scans without them."""
    try:
        with database.atomic():  # a savepoint: a refused extension must not abort the rest
            database.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except pw.DatabaseError as exc:
        logger.warning("pg_trgm is not available (%s): device search scans without an index",
                       str(exc).strip().splitlines()[0])
        return
    database.execute_sql("CREATE INDEX IF NOT EXISTS device_search_trgm ON device "
                         "USING gin (search_text gin_trgm_ops)")


def _is_postgres(database: pw.Database) -> bool:
    """Whether the (possibly proxied) database is PostgreSQL."""
    return isinstance(getattr(database, "obj", None) or database, pw.PostgresqlDatabase)


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Create the substring index of device.search_text."""
    if _is_postgres(database):
        migrator.sql(FOLD_FUNCTION)
        migrator.run(_postgres_trigram, database)
        return
    migrator.sql(f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} USING fts5(search_text, content='device', "
                 "content_rowid='id', tokenize='trigram')")
    migrator.sql(f"CREATE TRIGGER IF NOT EXISTS device_fts_ai AFTER INSERT ON device BEGIN "
                 f"INSERT INTO {FTS}(rowid, search_text) VALUES (new.id, new.search_text); END")
    migrator.sql(f"CREATE TRIGGER IF NOT EXISTS device_fts_ad AFTER DELETE ON device BEGIN "
                 f"INSERT INTO {FTS}({FTS}, rowid, search_text) "
                 "VALUES ('delete', old.id, old.search_text); END")
    migrator.sql(f"CREATE TRIGGER IF NOT EXISTS device_fts_au AFTER UPDATE OF search_text ON device BEGIN "
                 f"INSERT INTO {FTS}({FTS}, rowid, search_text) "
                 "VALUES ('delete', old.id, old.search_text); "
                 f"INSERT INTO {FTS}(rowid, search_text) VALUES (new.id, new.search_text); END")
    # A wipe drops device (and its triggers) but not this table: rebuild from what is there.
    migrator.sql(f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Drop the index (search falls back to a scan)."""
    if _is_postgres(database):
        migrator.sql("DROP INDEX IF EXISTS device_search_trgm")
        migrator.sql("DROP FUNCTION IF EXISTS devtrack_fold(text)")
        return
    for trigger in TRIGGERS:
        migrator.sql(f"DROP TRIGGER IF EXISTS {trigger}")
    migrator.sql(f"DROP TABLE IF EXISTS {FTS}")
