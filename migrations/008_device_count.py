"""Peewee migrations -- 008_device_count.py: devices per category, kept exact by triggers.

`devicecount` holds one row per category that has devices (n > 0): /all and category pages
read their total from it instead of counting every device. Triggers on `device` keep it in
step with every INSERT, DELETE and change of category_id, whichever code (or SQL) makes it;
a category's row goes when its last device does, so the table always equals
`SELECT category_id, COUNT(*) FROM device GROUP BY category_id`. It is derived data: dumps
leave it out, and a restore's INSERTs count it back up.

SQLite: three triggers with the statements inline. PostgreSQL: the trigger function
`devicecount_follow` (the step itself in `devicecount_add`), run by three row triggers, and a
statement trigger that empties the table on TRUNCATE device, which fires no row trigger (a
TRUNCATE of `category` with CASCADE, as a restore does, empties it through the foreign key).
"""

import peewee as pw
from peewee_migrate import Migrator

TABLE = "devicecount"
TRIGGERS = ("devicecount_ai", "devicecount_ad", "devicecount_au")
POSTGRES_ONLY_TRIGGERS = ("devicecount_at",)
FUNCTIONS = ("devicecount_follow()", "devicecount_add(integer, integer)")

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

POSTGRES_FUNCTIONS = (
    f"""CREATE OR REPLACE FUNCTION devicecount_add(category integer, delta integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF delta > 0 THEN
        INSERT INTO {TABLE} AS c (category_id, n) VALUES (category, delta)
            ON CONFLICT (category_id) DO UPDATE SET n = c.n + delta;
    ELSE
        UPDATE {TABLE} SET n = n + delta WHERE category_id = category;
        DELETE FROM {TABLE} WHERE category_id = category AND n <= 0;
    END IF;
END $$""",
    # A move touches the lower category id first: two moves in opposite directions lock the
    # two rows in the same order instead of deadlocking.
    """CREATE OR REPLACE FUNCTION devicecount_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM devicecount;
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM devicecount_add(NEW.category_id, 1);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM devicecount_add(OLD.category_id, -1);
    ELSIF OLD.category_id < NEW.category_id THEN
        PERFORM devicecount_add(OLD.category_id, -1);
        PERFORM devicecount_add(NEW.category_id, 1);
    ELSE
        PERFORM devicecount_add(NEW.category_id, 1);
        PERFORM devicecount_add(OLD.category_id, -1);
    END IF;
    RETURN NULL;
END $$""",
)
POSTGRES_TRIGGERS = (
    "CREATE TRIGGER devicecount_ai AFTER INSERT ON device "
    "FOR EACH ROW EXECUTE FUNCTION devicecount_follow()",
    "CREATE TRIGGER devicecount_ad AFTER DELETE ON device "
    "FOR EACH ROW EXECUTE FUNCTION devicecount_follow()",
    "CREATE TRIGGER devicecount_au AFTER UPDATE OF category_id ON device FOR EACH ROW "
    "WHEN (OLD.category_id IS DISTINCT FROM NEW.category_id) EXECUTE FUNCTION devicecount_follow()",
    "CREATE TRIGGER devicecount_at AFTER TRUNCATE ON device "
    "FOR EACH STATEMENT EXECUTE FUNCTION devicecount_follow()",
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
