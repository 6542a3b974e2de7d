"""/export for admins: columns, loan history by period, formula cells, and the import round trip."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import date, timedelta

import openpyxl
import pytest
from conftest import ADMIN_ID, T0, message_update

from handlers import admin_import, texts
from inventory import admin_export
from inventory.importing import ExistingData, build_plan, map_header, read_table
from models import Device, Loan, Person, QueueEntry

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
_file_ids = itertools.count(1)


@pytest.fixture
def world(seed):
    """Devices with formula-like values; held (one overdue, with a queue), returned, free."""
    admin = seed.person(ADMIN_ID, "admin@company.ru", name="Админ")
    ivan = seed.person(100, "ivan@company.ru", name="=Иван")
    olga = seed.person(200, "olga@company.ru", name="Ольга")
    seed.category("Сканер")
    seed.category("Весы")
    d1 = seed.device(1, "=cmd|' /C calc'!A0", serial="+SN-1", category="Весы",
                     registered_on=date(2024, 2, 1), firmware="-1.0", comment="@ivan: см. «тест»")
    d2 = seed.device(2, "Эвотор 7.2; белый, \"новый\"", serial="EV-002",
                     comment="первая строка\nвторая; строка", firmware="4.9")
    d3 = seed.device(3, "Сканер Honeywell", serial="SC-003", category="Сканер")
    seed.device(10, "'=кавычка впереди", serial="Q-010", category="Сканер")
    seed.loan(d2, ivan, due=date(2026, 11, 20), place="=офис, 3 этаж")  # overdue by 6 days
    seed.loan(d3, olga, place="дома")
    QueueEntry.create(device=d2, person=olga, joined_at=T0)
    QueueEntry.create(device=d2, person=admin, joined_at=T0)
    # History: one loan returned 10 days ago, one returned 200 days ago.
    Loan.create(device=d1, person=olga, taken_at=T0 - timedelta(days=20),
                returned_at=T0 - timedelta(days=10), due_date=date(2026, 11, 10), place="склад")
    Loan.create(device=d1, person=ivan, taken_at=T0 - timedelta(days=300),
                returned_at=T0 - timedelta(days=200))
    return seed


@pytest.fixture
def downloads(monkeypatch, sender):
    """Serve uploaded files from sender.files (what getFile + the file URL would give)."""
    def fetch(token: str, file_path: str, limit: int) -> bytes:
        return sender.files[file_path]

    monkeypatch.setattr(admin_import, "fetch_file", fetch)


def exported(harness, kind: str, period: str) -> list[tuple[str, bytes]]:
    """Press through /export; the documents sent."""
    menu = harness.send(ADMIN_ID, "/export").last(ADMIN_ID)
    assert menu.text == texts.EXPORT_CHOOSE
    assert [b["callback_data"] for b in menu.buttons] == ["axp:f:xlsx", "axp:f:csv"]
    harness.press(ADMIN_ID, f"axp:f:{kind}")
    assert harness.sender.last(ADMIN_ID).text == texts.EXPORT_ASK_PERIOD
    harness.sender.clear()
    harness.press(ADMIN_ID, f"axp:go:{kind}:{period}")
    return [c.files["document"] for c in harness.sender.of("sendDocument")]


def xlsx_sheets(raw: bytes) -> dict[str, list[list[object]]]:
    """Every sheet's rows (formulas kept as they are, not evaluated)."""
    book = openpyxl.load_workbook(io.BytesIO(raw))
    return {sheet.title: [[cell.value for cell in row] for row in sheet.iter_rows()]
            for sheet in book.worksheets}


def csv_rows(raw: bytes) -> list[list[str]]:
    """Rows of an exported CSV."""
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))


def table_state() -> list[list[tuple]]:
    """Devices, loans, people and queues as stored (timestamps of changes included, except a
    person's updated_at, which every update from that person refreshes with their profile)."""
    return [[tuple(value for key, value in row.items()
                   if not (model is Person and key == "updated_at"))
             for row in model.select().order_by(model.id).dicts()]
            for model in (Device, Loan, Person, QueueEntry)]


def test_xlsx_has_every_column_and_the_loans_of_the_period(harness, world):
    [(name, raw)] = exported(harness, "xlsx", "30")
    assert name == "devtrack-2026-11-26.xlsx"
    sheets = xlsx_sheets(raw)
    assert list(sheets) == ["Устройства", "Выдачи"]
    devices = sheets["Устройства"]
    assert devices[0] == list(admin_export.DEVICE_HEADER)
    assert [row[0] for row in devices[1:]] == [1, 2, 3, 10]
    held = devices[2]
    assert held[2:] == ["Онлайн-касса", "EV-002", "4.9", None, "первая строка\nвторая; строка",
                        "'=Иван", "ivan@company.ru", "'=офис, 3 этаж", T0.replace(hour=0),
                        T0.replace(day=20, hour=0), 6, 2]
    assert devices[3][7:14] == ["Ольга", "olga@company.ru", "дома", T0.replace(hour=0), None,
                                None, 0]
    assert devices[4][7:14] == [None, None, None, None, None, None, 0]
    loans = sheets["Выдачи"]
    assert loans[0] == list(admin_export.LOAN_HEADER)
    # Open loans and the one returned 10 days ago; the one returned 200 days ago is older.
    assert [(row[0], row[4]) for row in loans[1:]] == [
        (3, "olga@company.ru"), (2, "ivan@company.ru"), (1, "olga@company.ru")]
    returned = loans[3]
    assert returned[8] == T0 - timedelta(days=10) + timedelta(hours=3)  # Moscow time
    assert (returned[7], returned[9]) == (T0.replace(day=10, hour=0), 6)  # returned 6 days late
    caption = harness.sender.of("sendDocument")[0].params["caption"]
    assert caption == texts.EXPORT_CAPTION.format(
        devices=4, loans=3, period=texts.EXPORT_PERIOD_DAYS.format(
            days=texts.days(30), start="27.10.2026"))


def test_returned_loans_count_overdue_days_until_the_return(conn, world):
    table = admin_export.loan_table(None, T0.date(), __import__("zoneinfo").ZoneInfo("UTC"))
    by_taken = {row[6].date(): row for row in table.rows}
    late = by_taken[(T0 - timedelta(days=20)).date()]
    assert late[7] == date(2026, 11, 10) and late[9] == 6  # returned on 16.11, due 10.11
    assert by_taken[(T0 - timedelta(days=300)).date()][9] is None  # no due date


@pytest.mark.parametrize(("period", "loans"), [("90", 3), ("365", 4), ("all", 4), ("none", None)])
def test_periods(harness, world, period, loans):
    [(_, raw)] = exported(harness, "xlsx", period)
    sheets = xlsx_sheets(raw)
    if loans is None:
        assert list(sheets) == ["Устройства"]
        caption = harness.sender.of("sendDocument")[0].params["caption"]
        assert caption == texts.EXPORT_CAPTION_DEVICES.format(devices=4)
    else:
        assert len(sheets["Выдачи"]) - 1 == loans


def test_csv_sends_devices_then_loans(harness, world):
    docs = exported(harness, "csv", "all")
    assert [name for name, _ in docs] == ["devtrack-2026-11-26.csv",
                                          "devtrack-2026-11-26.loans.csv"]
    devices, loans = (csv_rows(raw) for _, raw in docs)
    assert devices[0] == list(admin_export.DEVICE_HEADER)
    assert devices[2][10:] == ["26.11.2026", "20.11.2026", "6", "2"]
    assert loans[0] == list(admin_export.LOAN_HEADER) and len(loans) == 5
    assert loans[-1][6] == "30.01.2026 12:00"  # taken 300 days before T0, in Moscow time
    captions = [c.params["caption"] for c in harness.sender.of("sendDocument")]
    assert captions == [texts.EXPORT_CAPTION_DEVICES.format(devices=4),
                        texts.EXPORT_CAPTION_LOANS.format(period=texts.EXPORT_PERIOD_ALL,
                                                          loans=4)]


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_formula_cells_are_neutralised(harness, world, kind):
    docs = exported(harness, kind, "all")
    if kind == "xlsx":
        book = openpyxl.load_workbook(io.BytesIO(docs[0][1]))
        cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row
                 if cell.value is not None]
        assert not [c.coordinate for c in cells if c.data_type == "f"]
        values = [c.value for c in cells if isinstance(c.value, str)]
    else:
        values = [cell for _, raw in docs for row in csv_rows(raw) for cell in row]
    assert not [v for v in values if v.startswith(DANGEROUS)]
    for value in ("'=cmd|' /C calc'!A0", "'+SN-1", "'-1.0", "'@ivan: см. «тест»",
                  "'=офис, 3 этаж", "''=кавычка впереди", "'=Иван"):
        assert value in values


def test_the_import_knows_every_devices_column():
    columns, unknown, repeated = map_header(list(admin_export.DEVICE_HEADER))
    assert unknown == [] and repeated == []
    assert set(columns) == {"number", "name", "category", "serial", "registered_on", "firmware",
                            "comment", "email", "place", "due_date"}


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_export_then_import_changes_nothing(backend, harness, world, downloads, kind):
    name, raw = exported(harness, kind, "30")[0]
    before = table_state()  # after the admin's first message refreshed their profile
    harness.sender.files["documents/exp"] = raw
    harness.update(message_update(ADMIN_ID, None, document={
        "file_id": "exp", "file_unique_id": "exp", "file_name": name, "file_size": len(raw)}))
    preview = harness.sender.last(ADMIN_ID)
    # The preview counts rows matched by number (no warnings about the extra columns) ...
    assert preview.text == texts.IMPORT_PREVIEW.format(name=name, new=0, updates=4, loans=0,
                                                       warnings="")
    done = harness.press(ADMIN_ID, "imp:go").last(ADMIN_ID)
    # ... and applying finds every one unchanged.
    assert done.text == texts.IMPORT_DONE.format(name=name, created=0, updated=0, unchanged=4,
                                                 loans=0, people=0)
    assert table_state() == before


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_export_into_an_empty_database_plans_the_same_devices(conn, world, config, kind):
    result = admin_export.export(kind, days=None, history=True, now=T0, today=T0.date(),
                                 tz=config.tz)
    plan = build_plan(read_table(result.files[0][1], f"x.{kind}"),
                      ExistingData(categories={n.lower(): n for n in
                                               ("Онлайн-касса", "Весы", "Сканер")}),
                      T0.date())
    assert plan.errors == [] and plan.warnings == []
    stored = {d.number: (d.name, d.serial, d.firmware, d.comment, d.registered_on)
              for d in Device.select()}
    assert {r.number: (r.name, r.serial, r.firmware, r.comment, r.registered_on)
            for r in plan.new} == stored
    assert {r.number: (r.email, r.place, r.due_date) for r in plan.loans} == {
        2: ("ivan@company.ru", "=офис, 3 этаж", date(2026, 11, 20)),
        3: ("olga@company.ru", "дома", None)}


def test_forged_export_buttons(harness, world):
    for data in ("axp:f:pdf", "axp:go:xlsx:7", "axp:go:ods:30", "axp:zz:xlsx"):
        harness.press(ADMIN_ID, data)
    assert harness.sender.alerts() == [texts.STALE_BUTTON] * 4
    assert not harness.sender.of("sendDocument")
