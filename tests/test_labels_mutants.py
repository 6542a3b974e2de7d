"""inventory/label_select.py and inventory/labels.py against mutants.

The selections run on several categories and devices, labelled and not, so a dropped or
weakened WHERE clause (above all the UPDATE that marks devices labelled) or a lost order changes
a result the test pins; the parser's limits are checked at their exact boundaries (see
docs/mutation.md).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from conftest import T0
from test_write_filters import changed, snapshot

from inventory import label_select
from inventory.label_select import NOT_A_NUMBER, REVERSED, TOO_MANY, Problem
from inventory.labels import Label
from models import AuditLog, Category, Device

LABELLED = T0 - timedelta(days=3)


@pytest.fixture
def shelf(backend, seed) -> dict[int, Device]:
    """Devices 3, 5, 7 (labelled), 100 (Весы), 9 and 4 (Весы, labelled), an empty category."""
    devices = {}
    for number, name, category in ((7, "Касса 7", "Онлайн-касса"), (3, "Касса 3", "Онлайн-касса"),
                                   (100, "Весы 100", "Весы"), (5, "Касса 5", "Онлайн-касса"),
                                   (9, "Сканер 9", "Сканер"), (4, "Весы 4", "Весы")):
        devices[number] = seed.device(number, name, category=category)
    seed.category("Пустая")
    Device.update(labelled_at=LABELLED).where(Device.number.in_([7, 4])).execute()
    return devices


def rows(selection: list[tuple[int, Label]]) -> list[tuple[int, int, str, str]]:
    """(device id, number, name, category) of a selection."""
    return [(device_id, label.number, label.name, label.category)
            for device_id, label in selection]


def row(device: Device) -> tuple[int, int, str, str]:
    """What a selection gives for a device."""
    return (device.id, device.number, device.name, device.category.name)


# --- parsing -----------------------------------------------------------------------------------


def test_parse_numbers_ranges_dashes_and_separators():
    assert label_select.parse_numbers(" 101 – 103, 145;150\n 99—99 ,,") == (
        [99, 101, 102, 103, 145, 150], [])
    assert label_select.parse_numbers(",7, 5-5;") == ([5, 7], [])
    assert label_select.parse_numbers("") == ([], [])


def test_parse_numbers_names_what_it_could_not_use_and_goes_on():
    numbers, problems = label_select.parse_numbers("9-3, abc, 5, 1-2-3, ²7, 12")
    assert numbers == [5, 12]
    assert problems == [Problem(REVERSED, "9-3"), Problem(NOT_A_NUMBER, "abc"),
                        Problem(NOT_A_NUMBER, "1-2-3"), Problem(NOT_A_NUMBER, "²7")]


def test_parse_numbers_limits_at_their_exact_boundaries():
    top = label_select.MAX_NUMBER
    assert label_select.parse_numbers(f"{top}, {top - 1}-{top}") == ([top - 1, top], [])
    assert label_select.parse_numbers(f"{top + 1}, 4, {top}-{top + 1}") == (
        [4], [Problem(NOT_A_NUMBER, str(top + 1)), Problem(NOT_A_NUMBER, f"{top}-{top + 1}")])
    most = label_select.MAX_NUMBERS
    numbers, problems = label_select.parse_numbers(f"1-{most}")
    assert (len(numbers), numbers[0], numbers[-1], problems) == (most, 1, most, [])
    numbers, problems = label_select.parse_numbers(f"1-{most + 1}, 5")
    assert (numbers, problems) == ([5], [Problem(TOO_MANY, f"1-{most + 1}")])
    numbers, problems = label_select.parse_numbers(f"1-{most - 2}, 50000-50001, 60000-60002")
    assert len(numbers) == most and numbers[-2:] == [50000, 50001]
    assert problems == [Problem(TOO_MANY, "60000-60002")]
    # Numbers typed twice count once towards the limit.
    numbers, problems = label_select.parse_numbers(f"1-{most}, 1-{most}")
    assert len(numbers) == most


def test_choose_numbers_splits_found_and_missing(shelf):
    choice = label_select.choose_numbers("1-5, 7, 100, 200, x")
    assert (choice.numbers, choice.missing) == ([3, 4, 5, 7, 100], [1, 2, 200])
    assert choice.problems == [Problem(NOT_A_NUMBER, "x")]
    # Devices between the typed numbers but not typed are not chosen.
    choice = label_select.choose_numbers("3, 9")
    assert (choice.numbers, choice.missing) == ([3, 9], [])
    choice = label_select.choose_numbers("6, 8")
    assert (choice.numbers, choice.missing) == ([], [6, 8])
    empty = label_select.choose_numbers("9-3")
    assert (empty.numbers, empty.missing, empty.problems) == ([], [], [Problem(REVERSED, "9-3")])


def test_spans_join_runs_of_consecutive_numbers():
    assert label_select.spans([147, 101, 103, 102, 145, 148]) == [
        (101, 103), (145, 145), (147, 148)]
    assert label_select.spans([5]) == [(5, 5)]
    assert label_select.spans([]) == []


# --- selections --------------------------------------------------------------------------------


def test_every_selection_is_in_number_order(shelf):
    d = shelf
    assert rows(label_select.select_all()) == [row(d[n]) for n in (3, 4, 5, 7, 9, 100)]
    kassa = Category.get(Category.name == "Онлайн-касса")
    assert rows(label_select.select_category(kassa.id)) == [row(d[n]) for n in (3, 5, 7)]
    assert rows(label_select.select_unlabelled()) == [row(d[n]) for n in (3, 5, 9, 100)]
    assert rows(label_select.select_numbers([100, 4, 5, 77])) == [row(d[n]) for n in (4, 5, 100)]
    assert label_select.select_numbers([]) == []
    assert label_select.select_numbers([6, 8]) == []


def test_counts(shelf):
    assert label_select.count(None) == 6
    scales = Category.get(Category.name == "Весы")
    assert label_select.count(label_select.category_condition(scales.id)) == 2
    assert label_select.unlabelled_count() == 4


def test_categories_with_devices_by_name(shelf):
    ids = {c.name: c.id for c in Category.select()}
    assert label_select.categories() == [
        label_select.CategoryChoice(ids["Весы"], "Весы", 2),
        label_select.CategoryChoice(ids["Онлайн-касса"], "Онлайн-касса", 3),
        label_select.CategoryChoice(ids["Сканер"], "Сканер", 1)]


# --- marking -----------------------------------------------------------------------------------


def test_mark_labelled_touches_only_the_chosen_devices(shelf, seed, clock):
    d = shelf
    admin = seed.person(1, "admin@company.ru")
    before = snapshot()
    gone = Device.create(number=500, name="x", serial="gone", category=d[3].category)
    gone_id = gone.id
    gone.delete_instance()
    changed_rows = label_select.mark_labelled([d[5].id, gone_id, d[100].id, d[3].id],
                                              actor=admin, now=clock.now, layout="a4x24")
    assert changed_rows == 3
    assert changed(before) == {"Device": {d[3].id, d[5].id, d[100].id}}
    labelled = {device.number: device.labelled_at for device in Device.select()}
    assert labelled == {3: clock.now, 4: LABELLED, 5: clock.now, 7: LABELLED, 9: None,
                        100: clock.now}
    (audit,) = AuditLog.select().where(AuditLog.action == "labels.printed")
    assert (audit.actor_id, audit.created_at) == (admin.id, clock.now)
    assert json.loads(audit.details) == {"devices": 3, "layout": "a4x24"}
    assert label_select.unlabelled_count() == 1


def test_mark_labelled_in_chunks_marks_every_device(backend, seed, clock):
    category = seed.category("Склад")
    Device.insert_many([{"number": n, "name": f"D{n}", "serial": f"S{n}", "category": category}
                        for n in range(1, 1004)]).execute()
    ids = [d.id for d in Device.select(Device.id).order_by(Device.number)]
    chosen = ids[1:1002]  # 1001 devices: three chunks, the first and the last device left out
    assert label_select.mark_labelled(chosen, actor=None, now=clock.now, layout="thermal") == 1001
    marked = [d.number for d in Device.select().where(Device.labelled_at == clock.now)
              .order_by(Device.number)]
    assert marked == list(range(2, 1003))
    (audit,) = AuditLog.select().where(AuditLog.action == "labels.printed")
    assert audit.actor_id is None
    assert json.loads(audit.details) == {"devices": 1001, "layout": "thermal"}
    assert label_select.mark_labelled([], actor=None, now=clock.now, layout="a4x40") == 0
