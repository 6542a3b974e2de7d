"""The predecessor bot's database for tests: `<TEST_DATABASE_URL database>_legacy`, by SQL."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg2

SCHEMA = Path(__file__).resolve().parent.parent / "docs" / "legacy" / "predecessor-schema.sql"
TABLES = ("record", "resource", "visitor", "category", "alembic_version")


def legacy_url(base_url: str) -> str:
    """The URL of the separate predecessor database next to the test database."""
    parsed = urlparse(base_url)
    return parsed._replace(path=parsed.path.rstrip("/") + "_legacy").geturl()


def _admin(base_url: str) -> psycopg2.extensions.connection:
    """An autocommit connection to the test database (CREATE/DROP DATABASE need one)."""
    conn = psycopg2.connect(base_url)
    conn.autocommit = True
    return conn


def create(base_url: str) -> str:
    """Create the predecessor database afresh with its schema; returns its URL."""
    url = legacy_url(base_url)
    name = urlparse(url).path.lstrip("/")
    admin = _admin(base_url)
    try:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(SCHEMA.read_text(encoding="utf-8"))
    conn.close()
    return url


def drop(base_url: str) -> None:
    """Drop the predecessor database."""
    name = urlparse(legacy_url(base_url)).path.lstrip("/")
    admin = _admin(base_url)
    try:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def empty(url: str) -> None:
    """Remove every row."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
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
