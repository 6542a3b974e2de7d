"""Substring search through the index (FTS5 trigram / pg_trgm) finds what a plain scan finds."""

from __future__ import annotations

import pytest

from inventory import devices
from inventory.devices import normalize, search_text_for
from models import Category, Device

NAMES = [("Эвотор 7.2", "ZN-0001", "Онлайн-касса"), ("ЁЛКА Ёмкость", "Yo-100%", "Весы"),
         ("Сканер Honeywell", "HW_55", "Сканеры ШК"), ("Принтер этикеток", "PR\\9", "Весы"),
         ("Ёжик", "ab", "Прочее ёмкое")]
NEEDLES = ["эвотор", "ЭВОТОР", "елка", "ёлка", "емк", "ЁМК", "100%", "hw_", "_", "%", "pr\\9",
           "\\", "ab", "a", "е", "шк", "сканеры шк", "вес", "ZN-0001", "zn", "7.2", "прочее емкое",
           "нет такого", "  эвотор  "]


def reference(needle: str) -> list[int]:
    """The numbers a scan in Python finds: name, serial or category contains the needle."""
    folded = normalize(needle)
    return sorted(n + 1 for n, (name, serial, category) in enumerate(NAMES)
                  if folded and (folded in search_text_for(name, serial)
                                 or folded in normalize(category)))


@pytest.fixture
def stocked(seed):
    for number, (name, serial, category) in enumerate(NAMES, start=1):
        seed.device(number, name=name, serial=serial, category=category)


@pytest.mark.parametrize("needle", NEEDLES)
def test_index_finds_what_a_scan_finds(backend, stocked, clock, needle):
    page = devices.search(needle, 1, clock.now)
    assert sorted(r.device.number for r in page.rows) == reference(needle)
    assert page.total == len(reference(needle))


def test_index_follows_edits_and_deletions(backend, stocked, clock, seed):
    device = Device.get(Device.number == 1)
    Device.update(name="Атол 91Ф", search_text=search_text_for("Атол 91Ф", device.serial)).where(
        Device.id == device.id).execute()
    assert devices.search("эвотор", 1, clock.now).total == 0
    assert [r.device.number for r in devices.search("атол", 1, clock.now).rows] == [1]
    Device.delete().where(Device.number == 3).execute()
    assert devices.search("honeywell", 1, clock.now).total == 0
    seed.device(9, name="Новый Honeywell", serial="NEW-9", category="Весы")
    assert [r.device.number for r in devices.search("honeywell", 1, clock.now).rows] == [9]
    # Other devices keep their entries through all of it.
    assert [r.device.number for r in devices.search("принтер", 1, clock.now).rows] == [4]


def test_more_matches_counts_through_the_index(backend, stocked, clock):
    five = Device.get(Device.number == 5)
    assert devices.more_matches("ёж", five.id) == 0
    assert devices.more_matches("е", five.id) == len(reference("е")) - 1


def test_category_match_folds_case_and_yo(backend, stocked, clock):
    Category.create(name="ЁМКОСТИ Большие")
    cat = Category.get(Category.name == "ЁМКОСТИ Большие")
    Device.create(number=7, name="Бак", serial="T-7", category=cat,
                  search_text=search_text_for("Бак", "T-7"))
    found = [r.device.number for r in devices.search("емкости  большие", 1, clock.now).rows]
    assert found == [7]


def test_postgres_without_pg_trgm_migrates_with_a_log_line(caplog):
    import contextlib
    import importlib
    import logging

    import peewee as pw

    migration = importlib.import_module("migrations.007_search_index")
    sent: list[str] = []

    class Refusing:
        """A database that refuses CREATE EXTENSION, as without the right to create it."""

        def atomic(self):
            return contextlib.nullcontext()

        def execute_sql(self, sql, params=None):
            sent.append(sql)
            if sql.startswith("CREATE EXTENSION"):
                raise pw.ProgrammingError('permission denied to create extension "pg_trgm"')

    with caplog.at_level(logging.WARNING):
        migration._postgres_trigram(Refusing())
    assert sent == ["CREATE EXTENSION IF NOT EXISTS pg_trgm"]  # no index on a missing operator
    assert "pg_trgm is not available" in caplog.text and "permission denied" in caplog.text
