"""inventory/export.py, admin_export.py and spreadsheet.py against mutants: order, columns, cells.

Devices are created out of number order and loans with equal taking times out of id order, so
a lost or changed ORDER BY shows; every row of a file is compared whole, so a column moved,
dropped or formatted differently shows; user text starting with a formula character is in every
text column, so a cell that is not neutralised shows (see docs/mutation.md).
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from conftest import count_queries

from inventory import admin_export, export, spreadsheet
from inventory.importing import CANONICAL_HEADER
from models import AuditLog, Device, Loan, Person, QueueEntry

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 26, 21, 30)  # naive UTC: 00:30 on 27.11 in Moscow
TODAY = date(2026, 11, 27)


def csv_rows(raw: bytes) -> list[list[str]]:
    """Rows of an exported CSV (UTF-8 with a BOM, «;» between cells, CRLF line ends)."""
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert text.endswith("\r\n") and "\r\n\r\n" not in text
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def xlsx_sheet(raw: bytes, index: int = 0) -> openpyxl.worksheet.worksheet.Worksheet:
    """One sheet of an exported workbook (formulas kept as they are)."""
    return openpyxl.load_workbook(io.BytesIO(raw)).worksheets[index]


@dataclass
class Shelf:
    """Devices 10, 2, 7, 1 (created in that order); loans open, returned and with equal times."""

    d: dict[int, Device]
    ivan: Person
    olga: Person
    boss: Person
    nameless: Person


@pytest.fixture
def shelf(backend, seed) -> Shelf:
    """The shared data of the device exports (see Shelf)."""
    seed.category("Сканер")
    d = {
        10: seed.device(10, "=Касса", serial="+SN-10", firmware="-1.0", comment="@заметка",
                        registered_on=date(2024, 2, 1)),
        2: seed.device(2, "Сканер 2", serial="SC-2", category="Сканер"),
        7: seed.device(7, "Касса 7", serial="K-7", comment="\tтаб"),
        1: seed.device(1, "Касса 1", serial="K-1"),
    }
    ivan = seed.person(101, "ivan@company.ru", name="=Иван")
    olga = seed.person(102, "olga@company.ru", name="Ольга")
    boss = seed.person(900, "boss@company.ru", name="Начальник")
    nameless = seed.person(901, "nameless@company.ru", name="")
    taken = datetime(2026, 11, 1, 22, 15)  # 02.11 01:15 in Moscow
    # Device 2: olga had it (returned 05.11), ivan holds it since `taken`, due 20.11.
    Loan.create(device=d[2], person=olga, taken_at=taken - timedelta(days=10),
                returned_at=datetime(2026, 11, 5, 8, 0), due_date=date(2026, 11, 3),
                place="=старое", assigned_by=boss)
    Loan.create(device=d[2], person=ivan, taken_at=taken, due_date=date(2026, 11, 20),
                place="-склад", assigned_by=nameless)
    # Device 10: olga holds it, due today (not overdue); device 7 and 1 free.
    Loan.create(device=d[10], person=olga, taken_at=taken, due_date=TODAY, place="")
    for person in (ivan, boss, nameless):
        QueueEntry.create(device=d[2], person=person)
    QueueEntry.create(device=d[10], person=ivan)
    return Shelf(d, ivan, olga, boss, nameless)


# --- export.py: the import's own format ---------------------------------------------------------


def test_csv_lists_every_device_by_number_with_its_open_loan(shelf):
    raw, count = export.export_file("csv")
    assert count == 4
    assert csv_rows(raw) == [
        list(CANONICAL_HEADER),
        ["1", "Касса 1", "Онлайн-касса", "K-1", "", "", "", "", "", ""],
        ["2", "Сканер 2", "Сканер", "SC-2", "", "", "", "ivan@company.ru", "'-склад",
         "20.11.2026"],
        ["7", "Касса 7", "Онлайн-касса", "K-7", "", "", "'\tтаб", "", "", ""],
        ["10", "'=Касса", "Онлайн-касса", "'+SN-10", "01.02.2024", "'-1.0", "'@заметка",
         "olga@company.ru", "", "27.11.2026"],
    ]


def test_xlsx_lists_every_device_by_number_with_real_numbers_and_dates(shelf):
    raw, count = export.export_file("xlsx")
    assert count == 4
    sheet = xlsx_sheet(raw)
    assert sheet.title == "Устройства"
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    day = datetime(2024, 2, 1)
    assert rows == [
        list(CANONICAL_HEADER),
        [1, "Касса 1", "Онлайн-касса", "K-1", None, None, None, None, None, None],
        [2, "Сканер 2", "Сканер", "SC-2", None, None, None, "ivan@company.ru", "'-склад",
         datetime(2026, 11, 20)],
        [7, "Касса 7", "Онлайн-касса", "K-7", None, None, "'\tтаб", None, None, None],
        [10, "'=Касса", "Онлайн-касса", "'+SN-10", day, "'-1.0", "'@заметка",
         "olga@company.ru", None, datetime(2026, 11, 27)],
    ]
    assert [sheet.column_dimensions[c].width for c in "ABCDEFGHIJ"] == list(
        export.COLUMN_WIDTHS)
    assert sheet["E5"].number_format == "DD.MM.YYYY"
    assert sheet["B5"].data_type == "s"


def test_export_rows_of_an_unknown_format_name_it(shelf):
    with pytest.raises(ValueError, match="'ods'"):
        export.export_file("ods")


# --- spreadsheet.py ----------------------------------------------------------------------------


def test_workbook_cells_by_type_and_sheets_in_order():
    moment = datetime(2026, 11, 27, 0, 30)
    raw = spreadsheet.to_xlsx([
        spreadsheet.Table("Первый", ("А", "Б", "В", "Г", "Д"), (5, 7),
                          [[1, "=1+1", moment, date(2026, 1, 2), None], [2, "текст"]]),
        spreadsheet.Table("Второй", ("X",), (9,), []),
    ])
    book = openpyxl.load_workbook(io.BytesIO(raw))
    assert book.sheetnames == ["Первый", "Второй"]
    first, second = book.worksheets
    assert [[c.value for c in row] for row in first.iter_rows()] == [
        ["А", "Б", "В", "Г", "Д"], [1, "'=1+1", moment, datetime(2026, 1, 2), None],
        [2, "текст", None, None, None]]
    assert [c.data_type for c in first[2]][:4] == ["n", "s", "d", "d"]
    assert (first["C2"].number_format, first["D2"].number_format) == (
        "DD.MM.YYYY HH:MM", "DD.MM.YYYY")
    assert first["A2"].number_format == "General"
    assert (first.column_dimensions["A"].width, first.column_dimensions["B"].width) == (5, 7)
    assert second.column_dimensions["A"].width == 9
    assert [[c.value for c in row] for row in second.iter_rows()] == [["X"]]


# --- admin_export.py: devices with their state ----------------------------------------------------


def test_device_table_by_number_with_holder_dates_overdue_days_and_queue(shelf):
    table = admin_export.device_table(TODAY, MOSCOW)
    assert (table.title, table.header, table.widths) == (
        "Устройства", admin_export.DEVICE_HEADER, admin_export.DEVICE_WIDTHS)
    assert table.rows == [
        [1, "Касса 1", "Онлайн-касса", "K-1", "", None, "", "", "", "", None, None, None, 0],
        [2, "Сканер 2", "Сканер", "SC-2", "", None, "", "=Иван", "ivan@company.ru", "-склад",
         date(2026, 11, 2), date(2026, 11, 20), 7, 3],
        [7, "Касса 7", "Онлайн-касса", "K-7", "", None, "\tтаб", "", "", "", None, None, None,
         0],
        [10, "=Касса", "Онлайн-касса", "+SN-10", "-1.0", date(2024, 2, 1), "@заметка", "Ольга",
         "olga@company.ru", "", date(2026, 11, 2), TODAY, None, 1],
    ]


def test_overdue_days_start_the_day_after_the_due_date():
    assert admin_export._overdue(None, TODAY) is None
    assert admin_export._overdue(TODAY, TODAY) is None
    assert admin_export._overdue(TODAY - timedelta(days=1), TODAY) == 1
    assert admin_export._overdue(TODAY + timedelta(days=1), TODAY) is None


# --- admin_export.py: the loan history -----------------------------------------------------------


def test_loan_table_newest_first_ties_by_newest_id(shelf):
    table = admin_export.loan_table(None, TODAY, MOSCOW)
    assert (table.title, table.header, table.widths) == (
        "Выдачи", admin_export.LOAN_HEADER, admin_export.LOAN_WIDTHS)
    taken = datetime(2026, 11, 2, 1, 15)
    assert table.rows == [
        # device 10's loan and device 2's loan were taken at the same moment: newest id first
        [10, "=Касса", "Онлайн-касса", "Ольга", "olga@company.ru", "", taken, TODAY, None,
         None, ""],
        [2, "Сканер 2", "Сканер", "=Иван", "ivan@company.ru", "-склад", taken,
         date(2026, 11, 20), None, 7, "nameless@company.ru"],
        [2, "Сканер 2", "Сканер", "Ольга", "olga@company.ru", "=старое",
         taken - timedelta(days=10), date(2026, 11, 3), datetime(2026, 11, 5, 11, 0), 2,
         "Начальник"],
    ]


def test_the_period_keeps_loans_returned_at_its_start_or_later(shelf):
    returned = datetime(2026, 11, 5, 8, 0)
    assert len(admin_export.loan_table(returned, TODAY, MOSCOW).rows) == 3
    assert len(admin_export.loan_table(returned + timedelta(seconds=1), TODAY, MOSCOW).rows) == 2


def test_csv_cells_dates_moments_numbers_and_formula_text(shelf):
    raw = spreadsheet.to_csv(admin_export.loan_table(None, TODAY, MOSCOW))
    assert csv_rows(raw)[1:] == [
        ["10", "'=Касса", "Онлайн-касса", "Ольга", "olga@company.ru", "", "02.11.2026 01:15",
         "27.11.2026", "", "", ""],
        ["2", "Сканер 2", "Сканер", "'=Иван", "ivan@company.ru", "'-склад", "02.11.2026 01:15",
         "20.11.2026", "", "7", "nameless@company.ru"],
        ["2", "Сканер 2", "Сканер", "Ольга", "olga@company.ru", "'=старое", "23.10.2026 01:15",
         "03.11.2026", "05.11.2026 11:00", "2", "Начальник"],
    ]
    assert csv_rows(raw)[0] == list(admin_export.LOAN_HEADER)


def test_export_of_days_sends_one_workbook_and_audits_it(shelf, clock):
    result = admin_export.export("xlsx", days=21, history=True, now=NOW, today=TODAY,
                                 tz=MOSCOW, actor=shelf.boss)
    assert (result.devices, result.loans, [name for name, _ in result.files]) == (4, 2, ["xlsx"])
    book = openpyxl.load_workbook(io.BytesIO(result.files[0][1]))
    assert book.sheetnames == ["Устройства", "Выдачи"]
    devices = [[cell.value for cell in row] for row in book.worksheets[0].iter_rows()]
    assert [row[0] for row in devices] == ["Айди", 1, 2, 7, 10]
    assert devices[2][10] == datetime(2026, 11, 2)  # taken 01.11 22:15 UTC, in Moscow time
    entry = AuditLog.get(AuditLog.action == "export.admin")
    assert (entry.actor_id, entry.created_at) == (shelf.boss.id, NOW)
    assert json.loads(entry.details) == {"format": "xlsx", "devices": 4, "loans": 2, "days": 21}


def test_export_of_everything_as_csv_sends_devices_then_loans(shelf):
    result = admin_export.export("csv", days=None, history=True, now=NOW, today=TODAY,
                                 tz=MOSCOW)
    assert [name for name, _ in result.files] == ["csv", "loans.csv"]
    assert (result.devices, result.loans) == (4, 3)
    devices, loans = (csv_rows(raw) for _, raw in result.files)
    assert [row[0] for row in devices] == ["Айди", "1", "2", "7", "10"]
    assert len(loans) == 4
    assert json.loads(AuditLog.get(AuditLog.action == "export.admin").details) == {
        "format": "csv", "devices": 4, "loans": 3, "days": None}


def test_export_without_history_has_the_devices_only(shelf):
    for kind in ("csv", "xlsx"):
        result = admin_export.export(kind, days=30, history=False, now=NOW, today=TODAY,
                                     tz=MOSCOW)
        assert (len(result.files), result.devices, result.loans) == (1, 4, None)
    assert openpyxl.load_workbook(io.BytesIO(result.files[0][1])).sheetnames == ["Устройства"]
    with pytest.raises(ValueError, match="'pdf'"):
        admin_export.export("pdf", days=None, history=True, now=NOW, today=TODAY, tz=MOSCOW)
    assert AuditLog.select().where(AuditLog.action == "export.admin").count() == 2


def test_each_table_is_read_in_the_queries_its_docstring_promises(shelf):
    rows, queries = count_queries(lambda: [list(r) for r in admin_export.loan_table(
        None, TODAY, MOSCOW).rows])
    assert (len(rows), queries) == (3, 1)  # the assigner joined, not loaded per loan
    rows, queries = count_queries(lambda: admin_export.device_table(TODAY, MOSCOW).rows)
    assert (len(rows), queries) == (4, 2)
    rows, queries = count_queries(export.export_rows)
    assert (len(rows), queries) == (4, 1)


@pytest.fixture
def server_in_tokyo() -> Iterator[None]:
    """The process's local zone is Asia/Tokyo (UTC+9) for the test, then back."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


def test_stored_moments_are_utc_whatever_the_servers_zone(shelf, server_in_tokyo):
    rows = admin_export.loan_table(None, TODAY, MOSCOW).rows
    assert [row[6] for row in rows] == [datetime(2026, 11, 2, 1, 15)] * 2 + [
        datetime(2026, 10, 23, 1, 15)]
    assert rows[2][8] == datetime(2026, 11, 5, 11, 0)
