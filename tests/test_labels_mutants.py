"""inventory/label_select.py and inventory/labels.py against mutants.

The selections run on several categories and devices, labelled and not, so a dropped or
weakened WHERE clause (above all the UPDATE that marks devices labelled) or a lost order changes
a result the test pins; the parser's limits are checked at their exact boundaries (see
docs/mutation.md).
"""

from __future__ import annotations

import json
import re
import zlib
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from datetime import timedelta

import pypdfium2 as pdfium
import pytest
from conftest import T0
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from test_write_filters import changed, snapshot

from inventory import label_select, labels
from inventory.label_select import NOT_A_NUMBER, REVERSED, TOO_MANY, Problem
from inventory.labels import LAYOUTS, Label, Layout
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
    # Created in the order Онлайн-касса, Весы, Сканер, Пустая: listed by name.
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


# --- the PDF -----------------------------------------------------------------------------------
# The content stream of a sheet, read back: ("qr", scale, -scale, x, y) for each QR square (its
# transformation: module size in points, top-left corner) and ("text", x, y, size, string) for
# each line, in points. ASCII text is written as it is; \001 is the ellipsis of this font subset.
# The visual checks (every QR decodes, no text leaves its label) are in test_labels_pdf.py.

BOT = "devtrack_test_bot"
E = "\\001"  # «…»
LONG = "Evotor 7.2 Standard with a rather long name"
WORDS = "one two three four five six seven eight nine ten"
SHEET = [Label(7, LONG, "Scales"), Label(12, "Short", ""),
         Label(3, "", "Online cash registers of a long category"),
         Label(1234567890123, "A", "B"), Label(10 ** 40, "Wide number", "C")]


def drawn(data: bytes) -> list:
    """What each page draws, in order, with "page" after each page."""
    found: list = []
    for match in re.finditer(rb"/Length (\d+)\s*>>\s*stream\r?\n", data):
        raw = data[match.end():match.end() + int(match.group(1))]
        try:
            stream = zlib.decompress(raw)
        except zlib.error:
            continue
        if b" cm" not in stream or b"begincmap" in stream:
            continue
        found += [("qr", *map(float, q.groups()[:4])) for q in re.finditer(
            rb"q (\S+) 0 0 (\S+) (\S+) (\S+) cm ((?:\d+ \d+ \d+ 1 re ?)*)f Q", stream)]
        found += [("text", float(t[1]), float(t[2]), float(t[3]), t[4].decode()) for t in
                  re.finditer(rb"BT 1 0 0 1 (\S+) (\S+) Tm /F2\+0 (\S+) Tf \S+ TL "
                              rb"\((.*?)\) Tj T\* ET", stream)]
        found.append("page")
    return found


def test_a4x24_sheet_geometry():
    # Label 0: QR 3 mm from the left, centred in the 37 mm row under a 0.5 mm top margin; text
    # 1.5 mm right of the 31 mm QR square (35.5 mm = 100.63 pt); the number at the top, the
    # category at the bottom, the name in up to three lines under the number. Label 3 is the
    # first of the second row; long numbers shrink (not below 6 pt) before they are cut.
    assert drawn(labels.render(SHEET, LAYOUTS["a4x24"], "bot")) == [
        ("qr", 3.0301, -3.0301, 8.504, 831.969),
        ("qr", 3.0301, -3.0301, 206.929, 831.969),
        ("qr", 3.0301, -3.0301, 405.354, 831.969),
        ("qr", 2.6628, -2.6628, 8.504, 727.087),
        ("qr", 2.1433, -2.1433, 206.929, 727.087),
        ("text", 100.6299, 815.2537, 22.0, "7"),
        ("text", 100.6299, 745.7761, 7.0, "Scales"),
        ("text", 100.6299, 800.8629, 9.0, "Evotor 7.2 Standard"),
        ("text", 100.6299, 790.5129, 9.0, "with a rather long"),
        ("text", 100.6299, 780.1629, 9.0, "name"),
        ("text", 299.0551, 815.2537, 22.0, "12"),
        ("text", 299.0551, 800.8629, 9.0, "Short"),
        ("text", 497.4803, 815.2537, 22.0, "3"),
        ("text", 497.4803, 745.7761, 7.0, f"Online cash registers of a{E}"),
        ("text", 100.6299, 717.9694, 12.0, "1234567890123"),
        ("text", 100.6299, 640.8942, 7.0, "B"),
        ("text", 100.6299, 705.981, 9.0, "A"),
        ("text", 299.0551, 722.528, 6.0, f"100000000000000000000000{E}"),
        ("text", 299.0551, 640.8942, 7.0, "C"),
        ("text", 299.0551, 711.981, 9.0, "Wide number"),
        "page",
    ]


def test_thermal_roll_has_one_label_a_page():
    assert drawn(labels.render(SHEET, LAYOUTS["thermal"], "bot")) == [
        ("qr", 3.1181, -3.1181, 5.669, 101.906),
        ("text", 100.3465, 92.52122, 20.0, "7"),
        ("text", 100.3465, 7.230815, 6.5, "Scales"),
        ("text", 100.3465, 79.37069, 8.0, "Evotor 7.2"),
        ("text", 100.3465, 70.17069, 8.0, "Standard with a"),
        ("text", 100.3465, 60.97069, 8.0, f"rather long n{E}"),
        "page",
        ("qr", 3.1181, -3.1181, 5.669, 101.906),
        ("text", 100.3465, 92.52122, 20.0, "12"),
        ("text", 100.3465, 79.37069, 8.0, "Short"),
        "page",
        ("qr", 3.1181, -3.1181, 5.669, 101.906),
        ("text", 100.3465, 92.52122, 20.0, "3"),
        ("text", 100.3465, 7.230815, 6.5, f"Online cash regis{E}"),
        "page",
        ("qr", 2.7402, -2.7402, 5.669, 101.906),
        ("text", 100.3465, 102.3982, 7.0, "1234567890123"),
        ("text", 100.3465, 7.230815, 6.5, "B"),
        ("text", 100.3465, 92.37069, 8.0, "A"),
        "page",
        ("qr", 2.2055, -2.2055, 5.669, 101.906),
        ("text", 100.3465, 103.1579, 6.0, f"100000000000000{E}"),
        ("text", 100.3465, 7.230815, 6.5, "C"),
        ("text", 100.3465, 93.37069, 8.0, "Wide number"),
        "page",
    ]


def test_name_lines_are_limited_by_the_room_left():
    tall = Layout("tall", 40, 30, 1, 1, 40, 18, 0, 0, 2, 14, 8, 6, 5)
    assert drawn(labels.render([Label(5, WORDS, "Cat")], tall, "bot")) == [
        ("qr", 1.3684, -1.3684, 5.669, 79.37),
        ("text", 49.6063, 68.73336, 14.0, "5"),
        ("text", 49.6063, 41.12645, 6.0, "Cat"),
        ("text", 49.6063, 57.02424, 8.0, f"one two three{E}"),
        "page",
    ]
    assert drawn(labels.render([Label(5, WORDS, "")], tall, "bot"))[2:] == [
        ("text", 49.6063, 57.02424, 8.0, "one two three"),
        ("text", 49.6063, 47.82424, 8.0, f"four five six s{E}"),
        "page",
    ]
    low = Layout("low", 40, 30, 1, 1, 40, 12, 0, 0, 2, 14, 8, 6, 5)
    assert drawn(labels.render([Label(5, WORDS, "Cat")], low, "bot")) == [
        ("qr", 0.782, -0.782, 5.669, 79.37),
        ("text", 32.59843, 68.73336, 14.0, "5"),
        ("text", 32.59843, 58.13432, 6.0, "Cat"),
        "page",
    ]


def name_lines(layout: Layout) -> list[str]:
    """The name's lines drawn on a label with a category (text at the layout's name size)."""
    return [item[4] for item in drawn(labels.render([Label(5, WORDS, "Cat")], layout, "bot"))
            if item[0] == "text" and item[3] == layout.text_size]


def test_name_lines_fill_the_room_exactly_to_its_limit():
    # The room for the name is what the number, the category and the two 0.8 mm gaps leave.
    # At 19.1 mm it is 18.27 pt, 0.13 pt short of two 9.2 pt lines; at 19.3 mm 18.84 pt, 0.44
    # pt more than two. A gap 1 mm wider or narrower, or the category's height counted wrong,
    # moves the room by more than that and changes the count on one side.
    def sized(height: float) -> Layout:
        return Layout("edge", 40, 60, 1, 1, 40, height, 0, 0, 2, 14, 8, 6, 9)

    assert name_lines(sized(19.1)) == [f"one two thre{E}"]
    assert name_lines(sized(19.3)) == ["one two three", f"four five six{E}"]


def test_a_number_exactly_as_wide_as_its_room_keeps_its_size(monkeypatch):
    # The room is computed as the sheet computes it, to the last bit; the font reports the
    # number that wide at full size and narrower below, so only ">" keeps the full size.
    layout = LAYOUTS["a4x24"]
    x = layout.cell(0)[0] * mm
    pad = layout.padding * mm
    room = x + layout.label_width * mm - pad - (x + pad + layout.qr_size * mm + 1.5 * mm)
    real = labels.text_width

    def width(text: str, size: float) -> float:
        if text == "77":
            return room if size == layout.number_size else room - 1
        return real(text, size)

    monkeypatch.setattr(labels, "text_width", width)
    labels.fit.cache_clear()
    try:
        found = drawn(labels.render([Label(77, "", "")], layout, "bot"))
    finally:
        labels.fit.cache_clear()
    assert ("text", 100.6299, 815.2537, layout.number_size, "77") in found


def test_the_font_is_registered_once_from_the_vendored_file(monkeypatch):
    # As in a fresh process: reportlab knows no such font yet.
    monkeypatch.setattr(labels, "_font_ready", False)
    monkeypatch.delitem(pdfmetrics._fonts, labels.FONT_NAME, raising=False)
    labels.ensure_font()
    font = pdfmetrics.getFont(labels.FONT_NAME)
    assert labels._font_ready is True
    assert font.face.filename == str(labels.FONT_FILE)
    labels.ensure_font()
    assert pdfmetrics.getFont(labels.FONT_NAME) is font


def test_pages_break_after_a_full_sheet_and_carry_the_title():
    layout = LAYOUTS["a4x24"]
    items = [Label(n, f"D{n}", "K") for n in range(1, 26)]
    data = labels.render(items, layout, BOT)
    pages = drawn(data)
    assert pages.count("page") == 2
    assert pages[pages.index("page") + 1][3:] == (8.504, 831.969)  # first cell again
    assert [op[4] for op in pages if op != "page" and op[0] == "text" and op[3] == 22.0] == [
        str(n) for n in range(1, 26)]
    metadata = pdfium.PdfDocument(data).get_metadata_dict()
    assert metadata["Title"] == "Наклейки devtrack" and metadata["Creator"] == "devtrack"
    assert labels.render([], layout, BOT).count(b"/Type /Page\n") == 1  # one empty page


def test_progress_every_50_labels():
    seen: list[tuple[int, int]] = []
    labels.render([Label(n, "", "") for n in range(1, 121)], LAYOUTS["a4x40"], BOT,
                  progress=lambda done, total: seen.append((done, total)))
    assert seen == [(50, 120), (100, 120)]


def test_chunk_paths_are_the_qr_paths_of_the_deep_links():
    assert labels.deep_link(BOT, 42) == f"https://t.me/{BOT}?start=42"
    assert labels._chunk_paths(BOT, [42, 7]) == [labels.qr_path(labels.deep_link(BOT, 42)),
                                                  labels.qr_path(labels.deep_link(BOT, 7))]
    modules, path = labels.qr_path("https://t.me/x?start=1")
    assert modules == 25 + 2 * 2  # version 2 plus a two-module border on each side
    assert path.startswith("2 2 7 1 re")  # the finder pattern's top row, inside the border


class InlinePool:
    """A process pool stand-in that runs each chunk at once; it can break after some chunks."""

    made: list[tuple] = []
    break_after: int | None = None

    def __init__(self, workers, mp_context=None) -> None:
        InlinePool.made.append((workers, mp_context.get_start_method()))
        self.submitted = 0

    def __enter__(self) -> InlinePool:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def submit(self, fn, *args) -> Future:
        self.submitted += 1
        future: Future = Future()
        if self.break_after is not None and self.submitted > self.break_after:
            future.set_exception(BrokenProcessPool("a worker died"))
        else:
            future.set_result(fn(*args))
        return future


@pytest.fixture
def pool(monkeypatch) -> type[InlinePool]:
    """Small parallel thresholds and the inline pool."""
    InlinePool.made = []
    InlinePool.break_after = None
    monkeypatch.setattr(labels, "PARALLEL_FROM", 10)
    monkeypatch.setattr(labels, "CHUNK", 3)
    monkeypatch.setattr(labels, "WORKERS", 2)
    monkeypatch.setattr(labels, "ProcessPoolExecutor", InlinePool)
    return InlinePool


def expected_paths(numbers: list[int]) -> list[tuple[int, str]]:
    """The QR paths of numbers, encoded here."""
    return [labels.qr_path(labels.deep_link(BOT, n)) for n in numbers]


def test_workers_from_the_threshold_on_and_only_with_several(pool, monkeypatch):
    assert list(labels.qr_paths(list(range(1, 10)), BOT)) == expected_paths(list(range(1, 10)))
    assert pool.made == []
    numbers = list(range(1, 11))
    assert list(labels.qr_paths(numbers, BOT)) == expected_paths(numbers)
    assert pool.made == [(2, "spawn")]
    monkeypatch.setattr(labels, "WORKERS", 1)
    assert list(labels.qr_paths(numbers, BOT)) == expected_paths(numbers)
    assert pool.made == [(2, "spawn")]


def test_a_pool_that_breaks_midway_is_finished_in_process_without_repeats(pool):
    pool.break_after = 5  # chunks 1-5 come back, the sixth fails (after 5 * 3 = 15 paths)
    numbers = list(range(100, 125))
    assert list(labels.qr_paths(numbers, BOT)) == expected_paths(numbers)
    pool.break_after = 0
    assert list(labels.qr_paths(numbers, BOT)) == expected_paths(numbers)
