"""The predecessor bot's database for tests, by SQL: one of a small pool of slot databases.

The predecessor's side needs PostgreSQL. Its server is `TEST_DATABASE_URL` (make test) or, when
that is unset, `MUTATION_DATABASE_URL` (make mutation, whose devtrack side stays on SQLite). Each
test process takes its own slot database `<database>_legacy_<slot>` next to that database: it
locks `<tmp>/devtrack-legacy-<host>-<port>-<database>-<slot>.lock` (fcntl.flock, non-blocking,
slots 0, 1, ...) and keeps the lock until it exits, so parallel processes (mutmut's children,
two `pytest` runs) never share one. A slot database is created once, the first time a process
takes it, and kept for the next ones; its schema is reloaded only when
`docs/legacy/predecessor-schema.sql` changed. Each test then empties it (`empty`), which is all
a process pays per test beyond one connection per process to check the schema.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

import psycopg2
import pytest

SCHEMA = Path(__file__).resolve().parent.parent / "docs" / "legacy" / "predecessor-schema.sql"
TABLES = ("record", "resource", "visitor", "category", "alembic_version")
SLOTS = 8
BASE_URL = os.environ.get("TEST_DATABASE_URL") or os.environ.get("MUTATION_DATABASE_URL", "")

# The slot this process holds: (pid, url, the locked file). A forked child inherits it with the
# parent's pid and takes a slot of its own.
_held: tuple[int, str, IO[str]] | None = None


def slot_url(base_url: str, slot: int) -> str:
    """The URL of one slot database next to the base database."""
    parsed = urlparse(base_url)
    return parsed._replace(path=f"{parsed.path.rstrip('/')}_legacy_{slot}").geturl()


def _lock_path(url: str) -> Path:
    """The lock file of a slot database (one per server and database name on this machine)."""
    parsed = urlparse(url)
    name = f"{parsed.hostname or 'local'}-{parsed.port or 5432}-{parsed.path.lstrip('/')}"
    safe = re.sub(r"[^\w.-]", "_", name)
    return Path(tempfile.gettempdir()) / f"devtrack-legacy-{safe}.lock"


def _admin(base_url: str) -> psycopg2.extensions.connection:
    """An autocommit connection to the base database (CREATE DATABASE needs one)."""
    conn = psycopg2.connect(base_url)
    conn.autocommit = True
    return conn


def _schema_digest() -> str:
    return hashlib.sha256(SCHEMA.read_bytes()).hexdigest()[:16]


def _connect_or_create(base_url: str, url: str) -> psycopg2.extensions.connection:
    """A connection to the slot database, created first if it does not exist."""
    try:
        return psycopg2.connect(url)
    except psycopg2.OperationalError:
        name = urlparse(url).path.lstrip("/")
        admin = _admin(base_url)  # an unreachable server raises here
        try:
            with admin.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            admin.close()
        return psycopg2.connect(url)


def _prepare(base_url: str, url: str) -> None:
    """Make the slot database exist with the current predecessor schema."""
    conn = _connect_or_create(base_url, url)
    digest = _schema_digest()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT obj_description('public'::regnamespace, 'pg_namespace')")
            if cur.fetchone()[0] != digest:
                cur.execute("DROP SCHEMA public CASCADE")
                cur.execute("CREATE SCHEMA public")
                cur.execute(SCHEMA.read_text(encoding="utf-8"))
                cur.execute(f"COMMENT ON SCHEMA public IS '{digest}'")
                # Test data: a commit need not wait for the disk.
                cur.execute(f'ALTER DATABASE "{urlparse(url).path.lstrip("/")}" '
                            "SET synchronous_commit = off")
    finally:
        conn.close()


def acquire(base_url: str) -> str:
    """This process's slot database (taken on the first call); its URL."""
    global _held
    if _held is not None and _held[0] == os.getpid():
        return _held[1]
    for slot in range(SLOTS):
        url = slot_url(base_url, slot)
        lock = open(_lock_path(url), "a")  # noqa: SIM115 - held until the process exits
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        try:
            _prepare(base_url, url)
        except BaseException:
            lock.close()
            raise
        _held = (os.getpid(), url, lock)
        return url
    raise RuntimeError(f"all {SLOTS} predecessor slot databases next to {base_url} are in use")


def release() -> None:
    """Give the slot back (a process that exits gives it back anyway)."""
    global _held
    if _held is not None and _held[0] == os.getpid():
        _held[2].close()
    _held = None


def server() -> str:
    """This process's slot database, or skip the test when there is no PostgreSQL for it."""
    if not BASE_URL:
        pytest.skip("neither TEST_DATABASE_URL nor MUTATION_DATABASE_URL is set: the "
                    "predecessor database needs PostgreSQL")
    try:
        return acquire(BASE_URL)
    except psycopg2.OperationalError as error:
        pytest.skip(f"PostgreSQL for the predecessor database is unreachable: {error}")


def fresh() -> str:
    """This process's slot database, emptied: what each test starts from."""
    url = server()
    empty(url)
    return url


# DELETE and restarting the two id sequences: on a handful of rows several times faster than
# TRUNCATE, which makes new files for every table (about 100 ms here).
_EMPTY = "; ".join([*(f"DELETE FROM {table}" for table in TABLES),
                    "ALTER SEQUENCE record_id_seq RESTART",
                    "ALTER TABLE visitor ALTER COLUMN id RESTART"])


def empty(url: str) -> None:
    """Remove every row and restart the ids."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(_EMPTY)
    conn.close()


def insert(url: str, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
           skip_foreign_keys: bool = False) -> None:
    """Insert rows; skip_foreign_keys writes what a damaged predecessor database may hold."""
    if not rows:
        return
    from psycopg2.extras import execute_values

    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        if skip_foreign_keys:
            cur.execute("SET session_replication_role = replica")
        execute_values(cur, f"INSERT INTO {table} ({', '.join(columns)}) VALUES %s", rows,
                       page_size=5000)
    conn.close()
