"""inventory/bulk.py against mutants: multi-row writes change exactly the rows they name.

Every test writes several rows over several statements (small batch limits), so a wrong
parameter order, a lost row of a batch or an UPDATE that hits another row's id fails.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from conftest import count_queries

from inventory import bulk
from models import Category, Device


@pytest.fixture
def kind(backend, conn):
    """One category on the backend under test."""
    return Category.create(name="Онлайн-касса")


def device_rows(kind, numbers, stamp):
    """Insert tuples for devices with these numbers."""
    return [(n, f"Устройство {n}", kind.id, f"SN-{n}", date(2026, 1, n % 28 + 1), stamp, stamp)
            for n in numbers]


COLUMNS = ("number", "name", "category", "serial", "registered_on", "created_at", "updated_at")


def test_insert_rows_writes_every_row_in_order_over_several_statements(kind, monkeypatch):
    monkeypatch.setattr(bulk, "MAX_ROWS", 2)
    stamp = datetime(2026, 11, 26, 9, 30, 15)
    assert bulk.insert_rows(Device, COLUMNS, device_rows(kind, range(1, 6), stamp)) == 5
    got = [(d.number, d.name, d.serial, d.registered_on, d.created_at, d.firmware, d.comment)
           for d in Device.select().order_by(Device.number)]
    assert got == [(n, f"Устройство {n}", f"SN-{n}", date(2026, 1, n % 28 + 1), stamp, "", "")
                   for n in range(1, 6)]


def test_insert_rows_fills_constant_defaults_only(kind):
    stamp = datetime(2026, 11, 26, 9, 0)
    bulk.insert_rows(Device, COLUMNS, device_rows(kind, [7], stamp))
    device = Device.get(Device.number == 7)
    assert (device.firmware, device.comment, device.search_text) == ("", "", "")
    assert device.labelled_at is None and device.created_at == stamp
    columns, values = bulk._with_defaults(Device, ("number",), [(1,), (2,)])
    assert columns == ("number", "firmware", "comment", "search_text")
    assert values == [(1, "", "", ""), (2, "", "", "")]
    assert bulk._with_defaults(Category, ("name", "created_at", "updated_at"), [("x", 1, 2)]) == (
        ("name", "created_at", "updated_at"), [("x", 1, 2)])


def test_update_rows_changes_only_the_given_ids(kind, monkeypatch):
    monkeypatch.setattr(bulk, "MAX_ROWS", 2)
    stamp = datetime(2026, 11, 26, 9, 0)
    bulk.insert_rows(Device, COLUMNS, device_rows(kind, range(1, 8), stamp))
    by_number = {d.number: d.id for d in Device.select()}
    later = datetime(2026, 11, 27, 10, 45, 5)
    changes = [(by_number[n], f"Новое {n}", date(2026, 2, n), later) for n in (2, 3, 5, 6)]
    assert bulk.update_rows(Device, ("name", "registered_on", "updated_at"), changes) == 4
    got = {d.number: (d.name, d.registered_on, d.updated_at)
           for d in Device.select().order_by(Device.number)}
    for n in range(1, 8):
        if n in (2, 3, 5, 6):
            assert got[n] == (f"Новое {n}", date(2026, 2, n), later)
        else:
            assert got[n] == (f"Устройство {n}", date(2026, 1, n % 28 + 1), stamp)
    assert bulk.update_rows(Device, ("name",), []) == 0


def test_update_rows_can_set_null(kind):
    stamp = datetime(2026, 11, 26, 9, 0)
    bulk.insert_rows(Device, COLUMNS, device_rows(kind, (1, 2), stamp))
    first = Device.get(Device.number == 1)
    bulk.update_rows(Device, ("registered_on", "labelled_at"), [(first.id, None, None)])
    assert Device.get(Device.number == 1).registered_on is None
    assert Device.get(Device.number == 2).registered_on == date(2026, 1, 3)


def test_select_rows_returns_raw_tuples(kind):
    bulk.insert_rows(Device, COLUMNS, device_rows(kind, (3, 1, 2), datetime(2026, 11, 26)))
    rows = bulk.select_rows(Device.select(Device.number, Device.serial).order_by(Device.number))
    assert rows == [(1, "SN-1"), (2, "SN-2"), (3, "SN-3")]


def test_rows_per_statement_stays_within_the_parameter_limit():
    assert bulk._rows_per_statement(7) == min(bulk.MAX_ROWS, bulk.MAX_PARAMS // 7)
    assert bulk._rows_per_statement(60) == bulk.MAX_PARAMS // 60 == 500
    assert bulk._rows_per_statement(10) == bulk.MAX_ROWS == 1000
    assert bulk._rows_per_statement(0) == bulk.MAX_ROWS
    assert bulk._rows_per_statement(100_000) == 1


def test_converters_write_dates_as_iso_text():
    at = datetime(2026, 11, 26, 9, 5, 7)
    assert bulk._converter(Device.created_at)(at) == "2026-11-26 09:05:07"
    assert bulk._converter(Device.created_at)(None) is None
    assert bulk._converter(Device.registered_on)(date(2026, 1, 2)) == "2026-01-02"
    assert bulk._converter(Device.registered_on)("2026-01-02") == "2026-01-02"
    assert bulk._converter(Device.number)(5) == 5


def test_statements_hold_as_many_rows_as_the_parameter_limit_allows(kind, monkeypatch):
    """Rows per statement follow the bound parameters of a row (the id counts for an UPDATE)."""
    monkeypatch.setattr(bulk, "MAX_PARAMS", 20)  # 10 columns with the defaults: 2 rows
    stamp = datetime(2026, 11, 26, 9, 0)
    inserted, statements = count_queries(
        lambda: bulk.insert_rows(Device, COLUMNS, device_rows(kind, range(1, 6), stamp)))
    assert (inserted, statements) == (5, 3)
    monkeypatch.setattr(bulk, "MAX_PARAMS", 8)  # id + 3 columns: 2 rows
    by_number = {d.number: d.id for d in Device.select()}
    changes = [(by_number[n], f"Новое {n}", date(2026, 2, n), stamp) for n in (1, 2, 4, 5, 3)]
    updated, statements = count_queries(
        lambda: bulk.update_rows(Device, ("name", "registered_on", "updated_at"), changes))
    assert (updated, statements) == (5, 3)
    assert [(d.number, d.name, d.registered_on) for d in Device.select().order_by(Device.number)] \
        == [(n, f"Новое {n}", date(2026, 2, n)) for n in range(1, 6)]
