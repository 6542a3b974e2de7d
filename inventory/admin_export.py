"""/export for admins: devices with their state, and the loan history of a period, as XLSX or CSV.

The devices sheet starts with the import's own columns (under the import's header names), so the
admin import reads it back unchanged; the columns added for reading (holder's name, taken, days
overdue, queue length) are in `importing.EXPORT_ONLY_HEADER`, which the import skips silently.
Every text cell is neutralised against formulas (`importing.neutralize_cell`, in spreadsheet.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import peewee as pw

from inventory import audit
from inventory.devices import open_loan_of, with_holder
from inventory.rows import tuples
from inventory.spreadsheet import Table, to_csv, to_xlsx
from models import Category, Device, Loan, Person, QueueEntry

logger = logging.getLogger(__name__)

# Sheet names and column headers are the file format (the import reads DEVICE_HEADER back),
# not messages: they stay here rather than in handlers/texts.py.
DEVICES_TITLE = "Устройства"
LOANS_TITLE = "Выдачи"
DEVICE_HEADER = (
    "Айди", "Название", "Категория", "Артикул", "Прошивка", "Дата регистрации", "Комментарий",
    "Имя держателя", "Электронная почта", "Место устройства", "Взято", "Дата возврата",
    "Дней просрочки", "В очереди",
)
DEVICE_WIDTHS = (8, 32, 22, 22, 14, 14, 36, 24, 30, 24, 12, 14, 10, 10)
LOAN_HEADER = (
    "Айди", "Название", "Категория", "Сотрудник", "Электронная почта", "Место", "Взято",
    "Срок возврата", "Возвращено", "Дней просрочки", "Выдал",
)
LOAN_WIDTHS = (8, 32, 22, 24, 30, 24, 17, 14, 17, 10, 24)


def _local(moment: datetime | None, tz: ZoneInfo) -> datetime | None:
    """A naive-UTC moment in the configured zone, naive again (spreadsheets have no zones)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz).replace(tzinfo=None)


def _overdue(due: date | None, until: date) -> int | None:
    """Days past the due date on `until`; None when not overdue."""
    if due is None or due >= until:
        return None
    return (until - due).days


def device_table(today: date, tz: ZoneInfo) -> Table:
    """Every device with its holder, place, dates, days overdue and queue length (2 queries)."""
    queue = dict(tuples(QueueEntry.select(QueueEntry.device, pw.fn.COUNT(QueueEntry.id))
                        .group_by(QueueEntry.device)))
    query = with_holder().order_by(Device.number)
    rows: list[list[object]] = []
    for device in query:
        loan = open_loan_of(device)
        taken = _local(loan.taken_at, tz) if loan else None
        rows.append([
            device.number, device.name, device.category.name, device.serial, device.firmware,
            device.registered_on, device.comment,
            loan.person.name if loan else "", loan.person.email if loan else "",
            loan.place if loan else "", taken.date() if taken else None,
            loan.due_date if loan else None,
            _overdue(loan.due_date, today) if loan else None,
            queue.get(device.id, 0),
        ])
    return Table(DEVICES_TITLE, DEVICE_HEADER, DEVICE_WIDTHS, rows)


def loan_table(since: datetime | None, today: date, tz: ZoneInfo) -> Table:
    """Loans open at any time since `since` (all when None), newest first, in one query."""
    assigner = Person.alias()
    query = (
        Loan.select(Loan, Device, Category, Person, assigner)
        .join(Device).join(Category)
        .switch(Loan).join(Person, on=(Loan.person == Person.id))
        .switch(Loan).join(assigner, pw.JOIN.LEFT_OUTER, on=(Loan.assigned_by == assigner.id))
        .order_by(Loan.taken_at.desc(), Loan.id.desc())
    )
    if since is not None:
        query = query.where(Loan.returned_at.is_null() | (Loan.returned_at >= since))
    rows: list[list[object]] = []
    for loan in query:
        returned = _local(loan.returned_at, tz)
        until = returned.date() if returned else today
        by = loan.assigned_by
        rows.append([
            loan.device.number, loan.device.name, loan.device.category.name,
            loan.person.name, loan.person.email, loan.place, _local(loan.taken_at, tz),
            loan.due_date, returned, _overdue(loan.due_date, until),
            (by.name or by.email) if by is not None and by.id is not None else "",
        ])
    return Table(LOANS_TITLE, LOAN_HEADER, LOAN_WIDTHS, rows)


@dataclass(frozen=True)
class ExportFiles:
    """What /export sends: (file name suffix, bytes) pairs and the row counts."""

    files: list[tuple[str, bytes]]
    devices: int
    loans: int | None  # None: no history was asked for


def export(kind: str, *, days: int | None, history: bool, now: datetime, today: date,
           tz: ZoneInfo, actor: Person | None = None) -> ExportFiles:
    """Devices (and, if asked, loans of the last `days` days or of all time) as files.

    XLSX: one workbook with both sheets. CSV: one file per table (a CSV has one sheet), the
    devices file first, so it alone can go back into the import.
    """
    if kind not in ("xlsx", "csv"):
        raise ValueError(f"unknown export format {kind!r}")
    devices = device_table(today, tz)
    loans = None
    if history:
        since = now - timedelta(days=days) if days is not None else None
        loans = loan_table(since, today, tz)
    tables = [devices] + ([loans] if loans is not None else [])
    if kind == "xlsx":
        files = [("xlsx", to_xlsx(tables))]
    else:
        files = [("csv", to_csv(devices))]
        if loans is not None:
            files.append(("loans.csv", to_csv(loans)))
    result = ExportFiles(files, len(devices.rows), len(loans.rows) if loans is not None else None)
    audit.record("export.admin", actor=actor, now=now, format=kind, devices=result.devices,
                 loans=result.loans, days=days)
    return result
