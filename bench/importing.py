"""Benchmark of the file import: read + validate + apply of a 10,000-row file (target 3 s)."""

from __future__ import annotations

import csv
import io
import logging
from datetime import date

import openpyxl

from bench.common import Result, fresh_database, measure
from inventory.import_apply import apply_plan, existing_data
from inventory.importing import build_plan, read_table
from models import AuditLog, Category, Device, Loan, Person, QueueEntry, db, utcnow

logger = logging.getLogger(__name__)

SECTION = "importing"
TARGET_MS = 3000.0
HEADER = ["Айди", "Название", "Категория", "Артикул", "Дата регистрации", "Прошивка",
          "Комментарий", "Электронная почта", "Место устройства", "Дата возврата"]
CATEGORIES = ["Онлайн-касса", "Фискальный регистратор", "Терминал эквайринга", "Весы", "Сканер"]
TODAY = date(2026, 11, 26)


def rows(count: int, suffix: str = "") -> list[list[str]]:
    """Device rows like a real inventory: a third of them held by one of count/10 people."""
    people = max(1, count // 10)
    return [
        [str(n), f"Эвотор 7.2 №{n}{suffix}", CATEGORIES[n % len(CATEGORIES)], f"ZN-{n:08d}",
         "01.02.2024", "4.9.1", "с блоком питания; коробка" if n % 4 == 0 else "",
         f"employee{n % people}@company.ru" if n % 3 == 0 else "",
         "офис, 3 этаж" if n % 3 == 0 else "", "15.12.2026" if n % 6 == 0 else ""]
        for n in range(1, count + 1)
    ]


def csv_bytes(data: list[list[str]]) -> bytes:
    """A cp1251 CSV with `;`, as Excel in a Russian locale saves it."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows([HEADER, *data])
    return buffer.getvalue().encode("cp1251")


def xlsx_bytes(data: list[list[str]]) -> bytes:
    """The same table as an XLSX workbook."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Устройства")
    sheet.append(HEADER)
    for row in data:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def import_file(raw: bytes, name: str, actor: Person) -> None:
    """What the bot does between «Импортировать» and «Готово»: read, validate, apply."""
    plan = build_plan(read_table(raw, name), existing_data(), TODAY)
    if not plan.ok:
        raise RuntimeError(f"benchmark file has errors: {plan.errors[:3]}")
    apply_plan(plan, actor, utcnow(), source=name)


def reset(admin_id: int) -> None:
    """Remove everything an import wrote (not timed)."""
    with db.atomic():
        for model in (AuditLog, QueueEntry, Loan, Device):
            model.delete().execute()
        Person.delete().where(Person.id != admin_id).execute()


def run(backend: str, small: bool) -> list[Result]:
    """Import a 10,000-row CSV and XLSX into an empty catalogue, then as updates of it."""
    count, repeat = (50, 1) if small else (10_000, 3)
    database, _ = fresh_database(backend)
    try:
        now = utcnow()
        Category.insert_many([{"name": n, "created_at": now, "updated_at": now}
                              for n in CATEGORIES]).execute()
        admin = Person.create(telegram_id=900, email="admin@company.ru", name="Админ")
        data = rows(count)
        files = {"csv": csv_bytes(data), "xlsx": xlsx_bytes(data)}
        results = []
        label = f"{count:,}".replace(",", " ")
        for kind, raw in files.items():
            median, p95 = measure(
                lambda raw=raw, kind=kind: import_file(raw, f"devices.{kind}", admin), repeat,
                setup=lambda: reset(admin.id))
            results.append(Result(SECTION, backend, f"{label} new rows ({kind})", median, p95,
                                  TARGET_MS))
        changed = csv_bytes(rows(count, suffix=" (обновлено)"))
        original = files["csv"]

        def restore() -> None:
            reset(admin.id)
            import_file(original, "devices.csv", admin)

        median, p95 = measure(lambda: import_file(changed, "devices.csv", admin), repeat,
                              setup=restore)
        results.append(Result(SECTION, backend, f"{label} updated rows (csv)", median, p95,
                              TARGET_MS))
        return results
    finally:
        database.close()
