"""Shared benchmark plumbing: fresh databases, timing statistics, the result table."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import peewee as pw
import psycopg2

from models import db, make_database
from schema import apply_migrations

logger = logging.getLogger(__name__)


@dataclass
class Result:
    """One measured operation."""

    section: str
    backend: str
    name: str
    median_ms: float
    p95_ms: float
    target_ms: float | None = None
    errors: int = 0
    note: str = ""
    # A ratio judged against a limit (round trips, ×echo bot, ×small inventory, statements).
    value: float | None = None
    limit: float | None = None
    unit: str = ""
    at_least: bool = False  # the value must reach the limit rather than stay under it
    equal: bool = True  # statements: the same at both sizes
    judged_ms: bool = False  # an absolute target that still decides the exit status

    @property
    def ok(self) -> bool:
        """Whether the ratio (or else the p95) meets its target, nothing having failed."""
        if self.value is not None and self.limit is not None:
            within = self.value >= self.limit if self.at_least else self.value <= self.limit
            return within and self.equal and not self.errors
        return self.target_ms is None or (self.p95_ms <= self.target_ms and not self.errors)

    @property
    def judged(self) -> bool:
        """Whether the verdict counts for make bench's exit status.

        Ratios to baselines of the same run are stable on a noisy machine; absolute
        milliseconds are reported, not judged (burst fairness is a ratio too).
        """
        return self.limit is not None or self.judged_ms

    @property
    def target_text(self) -> str:
        """The target column: a ratio limit or milliseconds."""
        if self.limit is not None:
            return f"{'≥' if self.at_least else '≤'}{self.limit:g}{self.unit}"
        return f"{self.target_ms:.0f}" if self.target_ms is not None else "-"

    @property
    def verdict(self) -> str:
        """yes / NO for judged rows; (yes) / (no) for absolute, reported-only targets."""
        if self.judged:
            return "yes" if self.ok else "NO"
        if self.target_ms is None:
            return ""
        return "(yes)" if self.ok else "(no)"


def backends() -> list[str]:
    """SQLite always; PostgreSQL when BENCH_DATABASE_URL names a database it may wipe."""
    kinds = ["sqlite"]
    if os.environ.get("BENCH_DATABASE_URL"):
        kinds.append("postgres")
    return kinds


def sibling_url(base: str, suffix: str) -> str:
    """`<database>_<suffix>` on the same server as the PostgreSQL URL base."""
    parsed = urlparse(base)
    return parsed._replace(path=parsed.path.rstrip("/") + f"_{suffix}").geturl()


def _sibling_statement(base: str, suffix: str, *statements: str) -> None:
    """Run database-level statements ({name}: the sibling's name) on base's server."""
    name = urlparse(sibling_url(base, suffix)).path.lstrip("/")
    admin = psycopg2.connect(base)
    admin.autocommit = True  # CREATE and DROP DATABASE refuse to run in a transaction
    try:
        with admin.cursor() as cur:
            for statement in statements:
                cur.execute(statement.format(name=name))
    finally:
        admin.close()


def create_sibling(base: str, suffix: str) -> str:
    """Drop and create the empty database `<database>_<suffix>`; returns its URL."""
    _sibling_statement(base, suffix, 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                       'CREATE DATABASE "{name}"')
    return sibling_url(base, suffix)


def drop_sibling(base: str, suffix: str) -> None:
    """Drop the database `<database>_<suffix>`."""
    _sibling_statement(base, suffix, 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_database(kind: str, url: str | None = None) -> tuple[pw.Database, str]:
    """An empty migrated database of the given kind, bound to the models.

    PostgreSQL: `url`'s (by default BENCH_DATABASE_URL's) public schema is dropped and recreated.
    """
    if kind == "postgres":
        url = url or os.environ["BENCH_DATABASE_URL"]
        database = make_database(url)
        db.initialize(database)
        database.connect(reuse_if_open=True)
        database.execute_sql("DROP SCHEMA IF EXISTS public CASCADE")
        database.execute_sql("CREATE SCHEMA public")
    else:
        folder = tempfile.mkdtemp(prefix="devtrack-bench-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        path = Path(folder) / "bench.db"
        url = f"sqlite:///{path}"
        database = make_database(url)
        db.initialize(database)
        database.connect(reuse_if_open=True)
    apply_migrations(database)
    settle(database)
    return database, url


def settle(database: pw.Database) -> None:
    """Statistics as after the database's own upkeep: ANALYZE; on PostgreSQL VACUUM too.

    A bulk insert leaves the trigram index's new entries in GIN's pending list, which every
    search scans until autovacuum (started by inserts since PostgreSQL 13) merges it: measured
    right after the insert, 100,000 devices timed the pending list, not the index.
    """
    database.execute_sql("VACUUM ANALYZE" if isinstance(database, pw.PostgresqlDatabase)
                         else "ANALYZE")


def timings(fn: Callable[[], object], repeat: int,
            setup: Callable[[], object] | None = None) -> list[float]:
    """fn's wall time in milliseconds, `repeat` times (setup runs untimed before each)."""
    samples = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    """Median and p95 of samples."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered), p95


def measure(fn: Callable[[], object], repeat: int,
            setup: Callable[[], object] | None = None) -> tuple[float, float]:
    """Median and p95 of fn's wall time in milliseconds (setup runs untimed before each)."""
    return summary(timings(fn, repeat, setup))


def table(results: list[Result]) -> str:
    """The results as a fixed-width table."""
    lines = [f"{'section':<10} {'backend':<9} {'operation':<34} {'median ms':>10} {'p95 ms':>9} "
             f"{'value':>7} {'target':>8}  ok"]
    for r in results:
        value = f"{r.value:.2f}" if r.value is not None else ""
        lines.append(f"{r.section:<10} {r.backend:<9} {r.name:<34} {r.median_ms:>10.2f} "
                     f"{r.p95_ms:>9.2f} {value:>7} {r.target_text:>8}  {r.verdict}"
                     + (f"  {r.note}" if r.note else ""))
    return "\n".join(lines)


class FakeResponse:
    """Just enough of requests.Response for pyTelegramBotAPI's request sender."""

    status_code = 200
    text = "{}"

    def __init__(self, payload: dict) -> None:
        self.payload = payload

    def json(self) -> dict:
        return self.payload


def update_builders(user: int, **sender: str) -> tuple[Callable[[str], dict],
                                                      Callable[[str], dict]]:
    """(message(text), press(data)): Bot API update bodies from one person's private chat."""
    person = {"id": user, "is_bot": False, "first_name": "Бенч", **sender}
    chat = {"id": user, "type": "private"}

    def message(text: str) -> dict:
        entities = ([{"type": "bot_command", "offset": 0, "length": len(text)}]
                    if text.startswith("/") else [])
        return {"message": {"message_id": 1, "date": 0, "text": text, "chat": chat,
                            "from": person, "entities": entities}}

    def press(data: str) -> dict:
        return {"callback_query": {"id": str(user), "chat_instance": "c", "data": data,
                                   "from": person, "message": message("")["message"]}}

    return message, press
