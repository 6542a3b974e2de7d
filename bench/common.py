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

import peewee as pw

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

    @property
    def ok(self) -> bool:
        """Whether the p95 meets the target (and, where a target is set, nothing failed)."""
        return self.target_ms is None or (self.p95_ms <= self.target_ms and not self.errors)


def backends() -> list[str]:
    """SQLite always; PostgreSQL when BENCH_DATABASE_URL names a database it may wipe."""
    kinds = ["sqlite"]
    if os.environ.get("BENCH_DATABASE_URL"):
        kinds.append("postgres")
    return kinds


def fresh_database(kind: str) -> tuple[pw.Database, str]:
    """An empty migrated database of the given kind, bound to the models."""
    if kind == "postgres":
        url = os.environ["BENCH_DATABASE_URL"]  # its public schema is dropped and recreated
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
    database.execute_sql("ANALYZE")
    return database, url


def measure(fn: Callable[[], object], repeat: int,
            setup: Callable[[], object] | None = None) -> tuple[float, float]:
    """Median and p95 of fn's wall time in milliseconds (setup runs untimed before each)."""
    samples = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]
    return statistics.median(samples), p95


def table(results: list[Result]) -> str:
    """The results as a fixed-width table."""
    lines = [f"{'section':<10} {'backend':<9} {'operation':<28} {'median ms':>10} {'p95 ms':>9} "
             f"{'target':>8}  ok"]
    for r in results:
        target = f"{r.target_ms:.0f}" if r.target_ms is not None else "-"
        lines.append(f"{r.section:<10} {r.backend:<9} {r.name:<28} {r.median_ms:>10.2f} "
                     f"{r.p95_ms:>9.2f} {target:>8}  {'yes' if r.ok else 'NO'}"
                     + (f"  {r.note}" if r.note else ""))
    return "\n".join(lines)
