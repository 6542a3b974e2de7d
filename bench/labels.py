"""Benchmark of /labels: select 10,000 devices and render them as QR labels (target 10 s)."""

from __future__ import annotations

import logging

from bench.common import Result, fresh_database, measure
from inventory import label_select, labels
from models import Category, Device, db, utcnow

logger = logging.getLogger(__name__)

SECTION = "labels"
TARGET_MS = 10_000.0
SELECT_TARGET_MS = 1_000.0
BOT = "devtrack_inventory_bot"
CATEGORIES = ["Онлайн-касса", "Фискальный регистратор", "Терминал эквайринга", "Весы", "Сканер"]
NAMES = ["Эвотор 7.2 Стандарт", "АТОЛ Sigma 10 с весами и сканером штрихкодов", "Штрих-М-01Ф",
         "Весы CAS ER Plus", "Сканер Honeywell Voyager 1450g"]


def fill(count: int) -> None:
    """`count` devices over five categories, with names of different lengths."""
    now = utcnow()
    with db.atomic():
        ids = [Category.create(name=name, created_at=now, updated_at=now).id
               for name in CATEGORIES]
        rows = [{"number": n, "name": f"{NAMES[n % len(NAMES)]} №{n}",
                 "category": ids[n % len(ids)], "serial": f"ZN-{n:08d}", "created_at": now,
                 "updated_at": now} for n in range(1, count + 1)]
        for start in range(0, len(rows), 1000):
            Device.insert_many(rows[start:start + 1000]).execute()


def run(backend: str, small: bool) -> list[Result]:
    """Selection on each backend; rendering (database-free) once, on SQLite."""
    count = 200 if small else 10_000
    database, _ = fresh_database(backend)
    try:
        fill(count)
        chosen: list = []

        def select() -> None:
            chosen[:] = label_select.select_all()

        median, p95 = measure(select, 2 if small else 5)
        results = [Result(SECTION, backend, f"select {count:,} devices", median, p95,
                          SELECT_TARGET_MS)]
        if backend == "sqlite":
            items = [label for _, label in chosen]
            labels.render(items[:24], labels.LAYOUTS["a4x24"], BOT)  # font loaded once
            median, p95 = measure(
                lambda: labels.render(items, labels.LAYOUTS["a4x24"], BOT), 1 if small else 3)
            results.append(Result(SECTION, backend, f"render {count:,} labels (A4 3x8)",
                                  median, p95, TARGET_MS))
        return results
    finally:
        database.close()
