"""Device export: formula injection is neutralised and the import reads the file back unchanged."""

from __future__ import annotations

import csv
import io
from dataclasses import astuple
from datetime import date

import openpyxl
import pytest

from config import Config
from inventory import export
from inventory.importing import (
    CANONICAL_HEADER,
    FIELDS,
    ExistingData,
    build_plan,
    map_header,
    neutralize_cell,
    read_table,
    restore_cell,
)

TODAY = date(2026, 11, 26)
FORMULAS = ["=1+1", "+7 999 123-45-67", "-5", "@SUM(A1)", "\tTAB", "\rCR",
            "=HYPERLINK(\"http://evil\",\"x\")", "'=already quoted", "''-two quotes"]
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def devices(seed):
    """Devices with tricky values, free and held, in two categories."""
    ivan = seed.person(100, "ivan.petrov@company.ru")
    olga = seed.person(200, "olga@company.ru")
    rows = [
        seed.device(1, "=cmd|' /C calc'!A0", serial="+SN-1", category="Весы",
                    registered_on=date(2024, 2, 1), firmware="-1.0", comment="@ivan: см. «тест»"),
        seed.device(2, "Эвотор 7.2; белый, \"новый\"", serial="EV-002",
                    comment="первая строка\nвторая; строка", firmware="4.9"),
        seed.device(3, "Сканер Honeywell", serial="SC-003", category="Сканер"),
        seed.device(10, "'=кавычка впереди", serial="Q-010", category="Сканер"),
    ]
    seed.loan(rows[1], ivan, due=date(2026, 12, 24), place="=офис, 3 этаж")
    seed.loan(rows[2], olga, place="дома")
    return rows


def expected_rows() -> list[tuple]:
    """What the database holds, in the import's field order."""
    return [astuple(r) for r in export.export_rows()]


def empty_database_data(config: Config) -> ExistingData:
    """What a fresh devtrack database tells the import: only the categories from CATEGORIES."""
    return ExistingData(categories={name.lower(): name for name in config.categories})


def planned(raw: bytes, name: str, config: Config) -> tuple[list[tuple], list[tuple]]:
    """(devices, loans) the import would create from the file in a fresh database."""
    plan = build_plan(read_table(raw, name), empty_database_data(config), TODAY)
    assert plan.errors == [] and plan.warnings == [] and plan.updates == []

    def fields(row: object) -> tuple:
        return tuple(getattr(row, f) for f in FIELDS)

    return [fields(r) for r in plan.new], [fields(r) for r in plan.loans]


# --- the importer's side ---------------------------------------------------------------------


def test_canonical_header_maps_to_every_field_in_order():
    columns, unknown, repeated = map_header(list(CANONICAL_HEADER))
    assert unknown == [] and repeated == []
    assert [f for f, _ in sorted(columns.items(), key=lambda kv: kv[1])] == list(FIELDS)


@pytest.mark.parametrize("value", [*FORMULAS, "", "обычный текст", "'", "a=b", "'текст"])
def test_neutralize_and_restore_are_inverse(value):
    shown = neutralize_cell(value)
    assert not shown.startswith(DANGEROUS)
    assert restore_cell(shown) == value


def test_import_undoes_the_prefix_only_before_a_formula_character():
    assert restore_cell("'=1") == "=1"
    assert restore_cell("'текст") == "'текст"  # a quote the person typed stays
    assert restore_cell("''=1") == "'=1"


# --- formula injection -----------------------------------------------------------------------


def test_csv_export_neutralises_formulas(devices, conn):
    raw, count = export.export_file("csv")
    assert count == 4
    assert raw.startswith(b"\xef\xbb\xbf")
    cells = [cell for row in csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""),
                                        delimiter=";") for cell in row]
    assert not [c for c in cells if c.startswith(DANGEROUS)]
    for value in ("'=cmd|' /C calc'!A0", "'+SN-1", "'-1.0", "'@ivan: см. «тест»",
                  "'=офис, 3 этаж", "''=кавычка впереди"):
        assert value in cells


def test_xlsx_export_neutralises_formulas(devices, conn):
    raw, _ = export.export_file("xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(raw)).worksheets[0]  # formulas kept, not evaluated
    cells = [cell for row in sheet.iter_rows() for cell in row if cell.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert not [t for t in texts if t.startswith(DANGEROUS)]
    assert "'=cmd|' /C calc'!A0" in texts and "'=офис, 3 этаж" in texts
    assert [c.value for c in sheet[1]] == list(CANONICAL_HEADER)


# --- round trip: export → import into an empty database ---------------------------------------


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_export_then_import_gives_the_same_devices(backend, devices, conn, config, kind):
    rows = expected_rows()
    raw, _ = export.export_file(kind)
    new, loans = planned(raw, f"devices.{kind}", config)
    assert new == rows
    assert loans == [r for r in rows if r[FIELDS.index("email")]]
    held = {r[0]: r for r in loans}
    assert held[2][7:] == ("ivan.petrov@company.ru", "=офис, 3 этаж", date(2026, 12, 24))
    assert held[3][7:] == ("olga@company.ru", "дома", None)


def test_export_of_an_empty_database(conn):
    for kind in ("csv", "xlsx"):
        assert export.export_file(kind)[1] == 0
    raw, _ = export.export_file("csv")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows == [list(CANONICAL_HEADER)]


def test_unknown_export_format(conn):
    with pytest.raises(ValueError):
        export.export_file("pdf")


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_export_import_export_through_the_database(backend, devices, conn, config, seed, kind):
    """With the import's database side (admin branch): export → apply into an empty database
    → export again gives the same file content."""
    from conftest import truncate_all

    from inventory import import_apply
    from inventory.devices import ensure_categories

    rows = expected_rows()
    raw, _ = export.export_file(kind)
    truncate_all(conn)
    ensure_categories(config.categories, seed.clock.now)
    plan = build_plan(read_table(raw, f"devices.{kind}"), import_apply.existing_data(), TODAY)
    assert plan.ok and not plan.warnings
    import_apply.apply_plan(plan, None, seed.clock.now)
    assert expected_rows() == rows
