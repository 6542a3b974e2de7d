"""Reading the predecessor bot's PostgreSQL database: plain SQL, one read-only snapshot.

Its schema, with the meaning of every column and state, is docs/legacy/predecessor-schema.sql.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote, urlparse

import psycopg2
import psycopg2.extensions

from cli import first_line

logger = logging.getLogger(__name__)

TABLES = ("category", "resource", "visitor", "record")
CONNECT_TIMEOUT = 15

# The statements of one read, together so they can be checked against the schema at a glance.
# Byte-order category names: the same order whatever the server's locale.
TABLES_SQL = ("SELECT table_name FROM information_schema.tables "
              "WHERE table_schema = current_schema()")
VERSION_SQL = "SELECT version_num FROM alembic_version"
CATEGORIES_SQL = 'SELECT name FROM category ORDER BY name COLLATE "C"'
RESOURCES_SQL = ("SELECT id, name, category_name, vendor_code, reg_date, firmware, comment "
                 "FROM resource ORDER BY id")
VISITORS_SQL = ("SELECT id, email, is_admin, chat_id, user_id, full_name, username, comment, "
                "updated_at FROM visitor ORDER BY id NULLS LAST, email")
RECORDS_SQL = ("SELECT id, resource_id, user_email, address, enqueue_date, take_date, "
               "return_date, finished, created_at, updated_at FROM record ORDER BY id")


class LegacyError(Exception):
    """The predecessor's database cannot be read; the message never holds the password."""


@dataclass(frozen=True)
class Resource:
    """A predecessor device."""

    id: int
    name: str
    category_name: str
    vendor_code: str
    reg_date: datetime | None
    firmware: str | None
    comment: str | None


@dataclass(frozen=True)
class Visitor:
    """A predecessor person."""

    id: int | None
    email: str
    is_admin: bool
    chat_id: int | None
    user_id: int | None
    full_name: str | None
    username: str | None
    comment: str | None
    updated_at: datetime | None


@dataclass(frozen=True)
class Record:
    """A take, a queue entry or a finished loan (see the schema notes)."""

    id: int
    resource_id: int
    user_email: str
    address: str | None
    enqueue_date: datetime | None
    take_date: datetime | None
    return_date: datetime | None
    finished: bool
    created_at: datetime | None
    updated_at: datetime | None


@dataclass
class LegacyData:
    """Everything the import needs from the predecessor, read in one snapshot."""

    categories: list[str] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)
    visitors: list[Visitor] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    version: str = ""


def password_of(url: str) -> str:
    """The password in a postgresql:// URL ('' when there is none)."""
    try:
        return unquote(urlparse(url).password or "")
    except ValueError:
        return ""


def safe_url(url: str) -> str:
    """The URL with its password replaced by ***, for reports and logs."""
    try:
        parsed = urlparse(url)
        if parsed.password is None:
            return url
        host = parsed.netloc.rsplit("@", 1)[1]
        return parsed._replace(netloc=f"{parsed.username}:***@{host}").geturl()
    except (ValueError, IndexError):
        return re.sub(r"//[^@/]*@", "//***@", url)


def redact(text: str, url: str) -> str:
    """Text with the URL's password (raw and URL-encoded) blanked out."""
    raw = urlparse(url).password if "://" in url else None
    for secret in {password_of(url), raw or ""}:
        if secret:
            text = text.replace(secret, "***")
    return text


def _is_postgres_url(url: str) -> bool:
    """Whether the URL is postgresql:// (or postgres://) and names a database."""
    try:
        parsed = urlparse(url)
    except ValueError:  # a malformed host such as «[db»
        return False
    return parsed.scheme in ("postgres", "postgresql") and bool(parsed.path.strip("/"))


def check_url(url: str) -> None:
    """Refuse anything but a postgresql:// URL with a database name."""
    if not _is_postgres_url(url):
        raise LegacyError(f"expected postgresql://user:password@host:5432/database, got "
                          f"{safe_url(url)!r}")


def read_legacy(url: str) -> LegacyData:
    """Read the predecessor's tables in one read-only REPEATABLE READ transaction."""
    check_url(url)
    try:
        conn = psycopg2.connect(url, connect_timeout=CONNECT_TIMEOUT,
                                application_name="devtrack-import-legacy")
    except psycopg2.Error as exc:
        raise LegacyError(redact(f"cannot connect to {safe_url(url)}: {first_line(exc)}",
                                 url)) from None
    try:
        conn.set_session(readonly=True,
                         isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ)
        with conn.cursor() as cur:
            return _read(cur)
    except psycopg2.Error as exc:
        raise LegacyError(redact(f"cannot read {safe_url(url)}: {first_line(exc)}",
                                 url)) from None
    finally:
        conn.rollback()
        conn.close()


def _read(cur: psycopg2.extensions.cursor) -> LegacyData:
    """The four tables (and the migration marker) through one cursor."""
    cur.execute(TABLES_SQL)
    present = {name for (name,) in cur.fetchall()}
    missing = [name for name in TABLES if name not in present]
    if missing:
        raise LegacyError("not the predecessor bot's database: no table "
                          + ", ".join(missing))
    data = LegacyData()
    if "alembic_version" in present:
        cur.execute(VERSION_SQL)
        data.version = ", ".join(v for (v,) in cur.fetchall())
    cur.execute(CATEGORIES_SQL)
    data.categories = [name for (name,) in cur.fetchall()]
    cur.execute(RESOURCES_SQL)
    data.resources = [Resource(*row) for row in cur.fetchall()]
    cur.execute(VISITORS_SQL)
    data.visitors = [Visitor(*row) for row in cur.fetchall()]
    cur.execute(RECORDS_SQL)
    data.records = [Record(*row) for row in cur.fetchall()]
    logger.info("predecessor read: %d categories, %d devices, %d people, %d records",
                len(data.categories), len(data.resources), len(data.visitors),
                len(data.records))
    return data
