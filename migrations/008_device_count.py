"""Peewee migrations -- 008_device_count.py: devices per category, kept exact by triggers.

`devicecount` holds one row per category that has devices (n > 0): /all and category pages
read their total from it instead of counting every device. Triggers on `device` keep it in
step with every INSERT, DELETE and change of category_id, whichever code (or SQL) makes it;
a category's row goes when its last device does, so the table always equals
`SELECT category_id, COUNT(*) FROM device GROUP BY category_id`. It is derived data: dumps
leave it out, and a restore's INSERTs count it back up.

SQLite: three row triggers with the statements inline. PostgreSQL: four statement triggers
(insert, delete, update, truncate), each running its plpgsql function once per statement.
"""

import peewee as pw
from peewee_migrate import Migrator

TABLE = "devicecount"
TRIGGERS = ("devicecount_ai", "devicecount_ad", "devicecount_au")
POSTGRES_ONLY_TRIGGERS = ("devicecount_at",)

CREATE_TABLE = (f"CREATE TABLE {TABLE} (category_id INTEGER PRIMARY KEY "
                "REFERENCES category(id) ON DELETE CASCADE, n INTEGER NOT NULL)")
FILL = (f"INSERT INTO {TABLE} (category_id, n) "
        "SELECT category_id, COUNT(*) FROM device GROUP BY category_id")

# SQLite: +1 is an upsert; -1 an update, then the row goes if that was the last device.
_SQLITE_ADD = (f"INSERT INTO {TABLE} (category_id, n) VALUES (new.category_id, 1) "
               f"ON CONFLICT (category_id) DO UPDATE SET n = {TABLE}.n + 1;")
_SQLITE_SUBTRACT = (f"UPDATE {TABLE} SET n = n - 1 WHERE category_id = old.category_id; "
                    f"DELETE FROM {TABLE} WHERE category_id = old.category_id AND n <= 0;")
SQLITE_TRIGGERS = (
    f"CREATE TRIGGER devicecount_ai AFTER INSERT ON device BEGIN {_SQLITE_ADD} END",
    f"CREATE TRIGGER devicecount_ad AFTER DELETE ON device BEGIN {_SQLITE_SUBTRACT} END",
    "CREATE TRIGGER devicecount_au AFTER UPDATE OF category_id ON device "
    f"WHEN old.category_id IS NOT new.category_id BEGIN {_SQLITE_SUBTRACT} {_SQLITE_ADD} END",
)

# PostgreSQL: statement triggers with transition tables, one upsert per statement and category.
# A row trigger there updates the same counter row once per device, and every update of a row
# in one transaction leaves a version the next one walks past: a 100,000-row bulk delete took
# 40 s instead of 1 s. Rows go through in category order, so two statements lock the counter
# rows they share in the same order instead of deadlocking. An UPDATE trigger cannot both name
# a column and see transition tables: it runs for every UPDATE of device (a lock's no-op too,
# about 45 µs more), and its HAVING leaves out what did not move.
_PG_UPSERT = (f"INSERT INTO {TABLE} AS c (category_id, n) SELECT category_id, {{delta}} "
              "FROM {rows} GROUP BY category_id{having} ORDER BY category_id "
              "ON CONFLICT (category_id) DO UPDATE SET n = c.n + excluded.n;")
_PG_EMPTIED = f" IF FOUND THEN DELETE FROM {TABLE} WHERE n <= 0; END IF;"
_MOVES = ("(SELECT category_id, -1 AS d FROM old_rows "
          "UNION ALL SELECT category_id, 1 FROM new_rows) AS moves")
POSTGRES_BODIES = {
    "devicecount_inserted": _PG_UPSERT.format(delta="COUNT(*)", rows="new_rows", having=""),
    "devicecount_deleted": _PG_UPSERT.format(delta="-COUNT(*)", rows="old_rows", having="")
    + _PG_EMPTIED,
    "devicecount_moved": _PG_UPSERT.format(delta="SUM(d)", rows=_MOVES,
                                           having=" HAVING SUM(d) <> 0") + _PG_EMPTIED,
    # TRUNCATE fires no row or DELETE trigger (a TRUNCATE of `category` with CASCADE, as a
    # restore does, also empties the table through its foreign key).
    "devicecount_truncated": f"DELETE FROM {TABLE};",
}
FUNCTIONS = tuple(f"{name}()" for name in POSTGRES_BODIES)
POSTGRES_FUNCTIONS = tuple(
    f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN {body} RETURN NULL; END $$" for name, body in POSTGRES_BODIES.items())
POSTGRES_TRIGGERS = (
    "CREATE TRIGGER devicecount_ai AFTER INSERT ON device REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION devicecount_inserted()",
    "CREATE TRIGGER devicecount_ad AFTER DELETE ON device REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION devicecount_deleted()",
    "CREATE TRIGGER devicecount_au AFTER UPDATE ON device "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION devicecount_moved()",
    "CREATE TRIGGER devicecount_at AFTER TRUNCATE ON device "
    "FOR EACH STATEMENT EXECUTE FUNCTION devicecount_truncated()",
)


def _is_postgres(database: pw.Database) -> bool:
    """Whether the (possibly proxied) database is PostgreSQL."""
    return isinstance(getattr(database, "obj", None) or database, pw.PostgresqlDatabase)


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Create the counter table and its triggers, then count the devices there are.

    The triggers come first: creating one locks `device` against writes until the migration
    commits, so no device written by another connection falls between the count and them.
    """
    migrator.sql(CREATE_TABLE)
    if _is_postgres(database):
        for sql in (*POSTGRES_FUNCTIONS, *POSTGRES_TRIGGERS):
            migrator.sql(sql)
    else:
        for sql in SQLITE_TRIGGERS:
            migrator.sql(sql)
    migrator.sql(FILL)


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Drop the triggers, the functions and the table (code before 008 counts devices)."""
    postgres = _is_postgres(database)
    for trigger in TRIGGERS + (POSTGRES_ONLY_TRIGGERS if postgres else ()):
        migrator.sql(f"DROP TRIGGER IF EXISTS {trigger}" + (" ON device" if postgres else ""))
    if postgres:
        for function in FUNCTIONS:
            migrator.sql(f"DROP FUNCTION IF EXISTS {function}")
    migrator.sql(f"DROP TABLE IF EXISTS {TABLE}")
