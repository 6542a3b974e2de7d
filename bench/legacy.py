"""Benchmark of the switch-over import: 10,000 devices and 100,000 records (target 30 s).

The predecessor's database is `<database>_legacy` next to BENCH_DATABASE_URL (or
TEST_DATABASE_URL): it is dropped and created afresh. Without either the section is skipped.
"""

from __future__ import annotations

import logging
import os
import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg2
from psycopg2.extras import execute_values

from bench.common import Result, create_sibling, drop_sibling, fresh_database, measure
from inventory import legacy_apply
from inventory.legacy_read import read_legacy
from models import AuditLog, Category, Device, Loan, Person, QueueEntry, db, utcnow

logger = logging.getLogger(__name__)

SECTION = "legacy"
TARGET_MS = 30_000.0
SCHEMA = Path(__file__).resolve().parent.parent / "docs" / "legacy" / "predecessor-schema.sql"
CATEGORIES = ["Онлайн-касса", "Фискальный регистратор", "Терминал эквайринга", "Весы", "Сканер"]
START = datetime(2026, 8, 1, 9, 0)  # local time, as the predecessor wrote it
MSK = ZoneInfo("Europe/Moscow")


def server_url() -> str:
    """A PostgreSQL URL the benchmark may create a database next to ('' when none)."""
    return os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL") or ""


def create_predecessor(base: str) -> str:
    """Drop and create the predecessor database with its schema; returns its URL."""
    url = create_sibling(base, "legacy")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(SCHEMA.read_text(encoding="utf-8"))
    conn.close()
    return url


def fill(url: str, devices: int, records: int) -> None:
    """Devices, a tenth as many people, and records: 30% of devices held, 7% queued, the rest
    history (random with a fixed seed)."""
    rng = random.Random(16)
    people = max(2, devices // 5)
    emails = [f"employee{n}@company.ru" for n in range(people)]
    held = devices * 3 // 10
    queued = min(records // 14, devices)
    rows = []
    for number in range(1, held + 1):
        rows.append((number, emails[number % people], "офис", None,
                     START + timedelta(days=100, minutes=number),
                     START + timedelta(days=130), False))
    for n in range(queued):
        number = n % held + 1
        rows.append((number, emails[(number + 1 + n // held) % people], None,
                     START + timedelta(days=101, minutes=n), None, None, False))
    while len(rows) < records:
        number = rng.randint(1, devices)
        taken = START + timedelta(minutes=rng.randint(0, 100 * 24 * 60))
        rows.append((number, emails[rng.randrange(people)], "склад", None, taken,
                     taken + timedelta(days=rng.randint(1, 20)), True))
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        execute_values(cur, "INSERT INTO category (name) VALUES %s", [(c,) for c in CATEGORIES])
        execute_values(cur, "INSERT INTO resource (id, name, category_name, vendor_code, "
                            "reg_date, firmware) VALUES %s",
                       [(n, f"Эвотор 7.2 №{n}", CATEGORIES[n % len(CATEGORIES)],
                         f"ZN-{n:08d}", START, "4.9.1") for n in range(1, devices + 1)],
                       page_size=5000)
        execute_values(cur, "INSERT INTO visitor (email, is_admin, chat_id, user_id, "
                            "full_name) VALUES %s",
                       [(e, n < 3, 10_000 + n if n % 2 else None, 10_000 + n if n % 2 else None,
                         f"Сотрудник {n}") for n, e in enumerate(emails)], page_size=5000)
        execute_values(cur, "INSERT INTO record (resource_id, user_email, address, "
                            "enqueue_date, take_date, return_date, finished) VALUES %s",
                       rows, page_size=5000)
    conn.close()


def reset() -> None:
    """Remove everything the import wrote (not timed)."""
    with db.atomic():
        for model in (AuditLog, QueueEntry, Loan, Device, Person, Category):
            model.delete().execute()


def import_all(url: str, apply: bool) -> legacy_apply.Outcome:
    """What `python -m jobs.import_legacy URL [--apply]` does: read, plan, (write)."""
    job = legacy_apply.apply if apply else legacy_apply.dry_run
    return job(read_legacy(url), tz=MSK, now=utcnow())


def run(backend: str, small: bool) -> list[Result]:
    """Dry run, apply into an empty devtrack, and the second (no-op) apply."""
    base = server_url()
    if not base:
        logger.warning("legacy section skipped: no BENCH_DATABASE_URL or TEST_DATABASE_URL")
        return []
    devices, records, repeat = (50, 500, 1) if small else (10_000, 100_000, 3)
    url = create_predecessor(base)
    database, _ = fresh_database(backend)
    try:
        fill(url, devices, records)
        label = f"{devices:,} dev / {records:,} rec".replace(",", " ")
        results = []
        median, p95 = measure(lambda: import_all(url, False), repeat)
        results.append(Result(SECTION, backend, f"dry run {label}", median, p95, TARGET_MS))
        median, p95 = measure(lambda: import_all(url, True), repeat, setup=reset)
        results.append(Result(SECTION, backend, f"apply {label}", median, p95, TARGET_MS))
        outcome = import_all(url, True)
        if outcome.plan.changes:
            raise RuntimeError("a second apply found something to write")
        median, p95 = measure(lambda: import_all(url, True), repeat)
        results.append(Result(SECTION, backend, "second apply (no change)", median, p95,
                              TARGET_MS))
        return results
    finally:
        database.close()
        drop_sibling(base, "legacy")
