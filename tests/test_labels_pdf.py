"""QR label PDFs: every QR decodes to its device's deep link; no text leaves its label."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pypdfium2 as pdfium
import pytest

from inventory import labels
from inventory.labels import LAYOUTS, Label

BOT = "devtrack_test_bot"
POINTS_PER_MM = 72 / 25.4
SCALE = 4  # 288 dpi: small labels' modules are ~9 px, plenty for the detector
NAMES = [
    "Эвотор 7.2",
    "АТОЛ Sigma 10 — фискальный регистратор с очень длинным названием, которое не влезет никуда",
    "Штрих-М-01Ф <b>&amp;</b>",
    "ОченьДлинноеСловоБезПробеловКотороеПридётсяРезатьПосерединеИНичегоНеПоделаешь",
    "Весы CAS ER Plus (ёлка, «кавычки»)",
    "",
]
CATEGORIES = ["Онлайн-касса", "Фискальный регистратор с длинным названием категории", "Весы"]


def sample(count: int, first: int = 101) -> list[Label]:
    """Labels with awkward names and numbers of different lengths."""
    numbers = [first + i * 37 if i % 5 else 10 ** (i % 10 + 1) - 1 for i in range(count)]
    return [Label(numbers[i], NAMES[i % len(NAMES)], CATEGORIES[i % len(CATEGORIES)])
            for i in range(count)]


def cell_box(layout: labels.Layout, index: int) -> tuple[float, float, float, float]:
    """(left, bottom, right, top) of a label in points."""
    x, y = layout.cell(index)
    return (x * POINTS_PER_MM, y * POINTS_PER_MM, (x + layout.label_width) * POINTS_PER_MM,
            (y + layout.label_height) * POINTS_PER_MM)


def decode_cell(image: np.ndarray, box: tuple[float, float, float, float],
                page_height: float) -> str:
    """The QR text found inside one label of a rendered page."""
    left, bottom, right, top = (value * SCALE for value in box)
    height = page_height * SCALE
    crop = image[int(height - top):int(height - bottom), int(left):int(right)]
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
    # White around the crop, as the paper around a label; the ArUco-based detector finds codes
    # the classic one sometimes misses, so both are tried.
    gray = cv2.copyMakeBorder(gray, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
    for detector in (cv2.QRCodeDetectorAruco(), cv2.QRCodeDetector()):
        text, _, _ = detector.detectAndDecode(gray)
        if text:
            return text
    return ""


def page_chars(page: pdfium.PdfPage) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Every visible character of a page with its box (left, bottom, right, top) in points."""
    textpage = page.get_textpage()
    chars = []
    for index in range(textpage.count_chars()):
        char = textpage.get_text_range(index, 1)
        if not char.strip():
            continue
        chars.append((char, textpage.get_charbox(index)))
    return chars


def texts_by_cell(layout: labels.Layout, chars, count: int) -> dict[int, str]:
    """Characters grouped by the label their centre lies in; asserts none crosses its label."""
    found: dict[int, list[str]] = {}
    boxes = [cell_box(layout, index) for index in range(count)]
    for char, (left, bottom, right, top) in chars:
        cx, cy = (left + right) / 2, (bottom + top) / 2
        owner = next((i for i, b in enumerate(boxes)
                      if b[0] <= cx <= b[2] and b[1] <= cy <= b[3]), None)
        assert owner is not None, f"{char!r} at {cx:.1f},{cy:.1f} lies outside every label"
        cl, cb, cr, ct = boxes[owner]
        assert cl <= left and right <= cr and cb <= bottom and top <= ct, (
            f"{char!r} of label {owner} ({left:.1f},{bottom:.1f},{right:.1f},{top:.1f}) crosses "
            f"its cell ({cl:.1f},{cb:.1f},{cr:.1f},{ct:.1f})")
        qr_right = cl + (layout.padding + layout.qr_size) * POINTS_PER_MM
        assert left >= qr_right, f"{char!r} of label {owner} overlaps its QR code"
        found.setdefault(owner, []).append(char)
    return {index: "".join(chars) for index, chars in found.items()}


def folded(text: str) -> str:
    """Text without spaces (extraction drops or adds them at line breaks)."""
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("key", ["a4x24", "a4x40", "thermal"])
def test_every_qr_decodes_to_its_deep_link_and_text_stays_inside(key):
    layout = LAYOUTS[key]
    items = sample(layout.per_page if layout.per_page > 1 else 3)
    data = labels.render(items, layout, BOT)
    pdf = pdfium.PdfDocument(data)
    pages = len(pdf)
    assert pages == -(-len(items) // layout.per_page)
    for page_no in range(pages):
        page = pdf[page_no]
        width, height = page.get_size()
        assert (round(width / POINTS_PER_MM), round(height / POINTS_PER_MM)) == (
            round(layout.page_width), round(layout.page_height))
        on_page = items[page_no * layout.per_page:(page_no + 1) * layout.per_page]
        image = page.render(scale=SCALE).to_numpy()
        for index, item in enumerate(on_page):
            assert decode_cell(image, cell_box(layout, index), height) == (
                f"https://t.me/{BOT}?start={item.number}")
        texts = texts_by_cell(layout, page_chars(page), len(on_page))
        for index, item in enumerate(on_page):
            text = folded(texts[index])
            assert text.startswith(str(item.number)), (index, text)
            first_word = folded(item.name.split()[0][:4]) if item.name.strip() else ""
            assert first_word in text, (index, item.name, text)
            assert folded(item.category[:6]) in text, (index, item.category, text)


def test_long_names_are_shortened_with_an_ellipsis():
    layout = LAYOUTS["a4x40"]
    items = [Label(7, NAMES[1], CATEGORIES[1]), Label(8, NAMES[3], "Весы")]
    pdf = pdfium.PdfDocument(labels.render(items, layout, BOT))
    texts = texts_by_cell(layout, page_chars(pdf[0]), 2)
    assert texts[0].count("…") == 2  # the name's last line and the category
    assert "…" in texts[1] and "ОченьДл" in texts[1]


def test_a_sheet_is_small_with_vector_qr_and_one_font_subset():
    layout = LAYOUTS["a4x24"]
    data = labels.render(sample(layout.per_page), layout, BOT)
    assert len(data) < 40_000, len(data)
    assert data.count(b"/FontFile2") == 1  # one embedded TrueType subset
    assert b"/Subtype /Image" not in data  # the codes are paths, not pictures


def test_a_big_job_is_encoded_in_worker_processes_in_order(monkeypatch):
    monkeypatch.setattr(labels, "PARALLEL_FROM", 10)
    monkeypatch.setattr(labels, "CHUNK", 4)
    monkeypatch.setattr(labels, "WORKERS", 2)
    numbers = list(range(500, 530))
    paths = list(labels.qr_paths(numbers, BOT))
    assert paths == [labels.qr_path(labels.deep_link(BOT, n)) for n in numbers]


def test_without_worker_processes_the_job_is_encoded_in_process(monkeypatch):
    class NoProcesses:
        def __init__(self, *args, **kwargs):
            raise OSError("processes are not allowed here")

    monkeypatch.setattr(labels, "PARALLEL_FROM", 10)
    monkeypatch.setattr(labels, "WORKERS", 2)
    monkeypatch.setattr(labels, "ProcessPoolExecutor", NoProcesses)
    numbers = list(range(500, 520))
    assert list(labels.qr_paths(numbers, BOT)) == [
        labels.qr_path(labels.deep_link(BOT, n)) for n in numbers]


def test_progress_is_reported_while_rendering(monkeypatch):
    monkeypatch.setattr(labels, "PROGRESS_EVERY", 10)
    seen: list[tuple[int, int]] = []
    labels.render(sample(25), LAYOUTS["a4x24"], BOT, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(10, 25), (20, 25)]


@pytest.mark.parametrize(("text", "width", "expected"), [
    ("Эвотор", 1000, "Эвотор"),
    ("Эвотор 7.2 Стандарт", 30, None),
    ("", 30, ""),
])
def test_fit_never_exceeds_the_width(text, width, expected):
    labels.ensure_font()
    fitted = labels.fit(text, 10, width)
    assert labels.text_width(fitted, 10) <= width
    if expected is not None:
        assert fitted == expected
    else:
        assert fitted.endswith("…") and text.startswith(fitted[:-1])
