"""QR labels as a PDF: a vector QR code of the device's deep link, its number, name and category.

Pure rendering (no database, no Telegram): `render(labels, layout, bot_username)` → PDF bytes.
The QR codes come from segno and are drawn as filled rectangles (one per run of dark modules in a
row), so a sheet stays a few kilobytes and prints sharp at any size. All text uses one vendored
font (DejaVu Sans Condensed, which has Cyrillic), embedded as a subset by reportlab.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

import segno
from reportlab import rl_config
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

logger = logging.getLogger(__name__)

FONT_NAME = "DejaVuSansCondensed"
FONT_FILE = Path(__file__).resolve().parent.parent / "assets" / "fonts" / f"{FONT_NAME}.ttf"
ELLIPSIS = "…"
# segno evaluates all eight masks by default, which costs ~2.5 ms a code (26 s for 10,000
# labels); any mask is valid for a reader, and one fixed mask costs ~0.5 ms.
QR_MASK = 0
QR_ERROR = "m"  # survives a scratched or smudged sticker; segno raises it if it fits anyway
QR_BORDER = 2  # modules of white around the code inside its square (the label adds more)
_DARK_RUNS = re.compile(b"\x01+")
# Streams are binary after zlib anyway; the default ASCII85 layer costs 25% more bytes and, in
# pure Python, about a second per 10,000 labels.
rl_config.useA85 = 0


@dataclass(frozen=True)
class Label:
    """What one label shows."""

    number: int
    name: str
    category: str


@dataclass(frozen=True)
class Layout:
    """A label stock: page size, grid and the label's inner geometry (all in millimetres)."""

    key: str
    page_width: float
    page_height: float
    columns: int
    rows: int
    label_width: float
    label_height: float
    margin_left: float
    margin_top: float
    padding: float
    number_size: float  # points
    text_size: float  # points, the name
    category_size: float  # points
    name_lines: int

    @property
    def per_page(self) -> int:
        """Labels on one page."""
        return self.columns * self.rows

    def cell(self, index: int) -> tuple[float, float]:
        """Bottom-left corner (mm, PDF coordinates) of the label at `index` on its page."""
        row, column = divmod(index, self.columns)
        x = self.margin_left + column * self.label_width
        y = self.page_height - self.margin_top - (row + 1) * self.label_height
        return x, y

    @property
    def qr_size(self) -> float:
        """Side of the QR square (mm), quiet zone included."""
        return min(self.label_height - 2 * self.padding, self.label_width * 0.55)


# The common self-adhesive A4 sheets (24 labels 70 × 37 mm; 40 labels 52.5 × 29.7 mm, which
# tile A4 exactly) and a 58 mm thermal roll with 40 mm labels.
LAYOUTS: dict[str, Layout] = {
    layout.key: layout for layout in (
        Layout("a4x24", 210, 297, 3, 8, 70, 37, 0, 0.5, 3, 22, 9, 7, 3),
        Layout("a4x40", 210, 297, 4, 10, 52.5, 29.7, 0, 0, 2, 16, 7, 6, 2),
        Layout("thermal", 58, 40, 1, 1, 58, 40, 0, 0, 2, 20, 8, 6.5, 3),
    )
}

ProgressFn = Callable[[int, int], None]
# Encoding QR codes is most of the time (segno is pure Python): a large job encodes them in
# worker processes, a chunk at a time, a few chunks ahead of the drawing so memory stays flat.
PARALLEL_FROM = 1000
CHUNK = 250
WORKERS = min(4, os.cpu_count() or 1)
PROGRESS_EVERY = 50  # labels between progress calls (the caller throttles what it shows)


def deep_link(bot_username: str, number: int) -> str:
    """The link a label encodes: it opens the device card in the bot."""
    return f"https://t.me/{bot_username}?start={number}"


_font_ready = False


def ensure_font() -> None:
    """Register the vendored font with reportlab once per process."""
    global _font_ready
    if not _font_ready:
        pdfmetrics.registerFont(TTFont(FONT_NAME, str(FONT_FILE)))
        _font_ready = True


def text_width(text: str, size: float) -> float:
    """Width of text in points at the given size."""
    return pdfmetrics.stringWidth(text, FONT_NAME, size)


@lru_cache(maxsize=4096)  # inventories repeat names and categories: fit each once
def fit(text: str, size: float, width: float) -> str:
    """The text, or its longest prefix that fits `width` with «…» after it."""
    text = " ".join(text.split())
    if text_width(text, size) <= width:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix whose ellipsised form fits
        middle = (low + high + 1) // 2
        if text_width(text[:middle].rstrip() + ELLIPSIS, size) <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + ELLIPSIS if low else ""


@lru_cache(maxsize=4096)
def wrap(text: str, size: float, width: float, lines: int) -> tuple[str, ...]:
    """Up to `lines` lines of text broken at spaces; what does not fit ends in «…»."""
    words = text.split()
    result: list[str] = []
    while words and len(result) < lines:
        if len(result) == lines - 1:
            result.append(fit(" ".join(words), size, width))
            break
        line = words.pop(0)
        if text_width(line, size) > width:  # one long word: cut it, go on with the rest
            result.append(fit(line, size, width))
            continue
        while words and text_width(f"{line} {words[0]}", size) <= width:
            line = f"{line} {words.pop(0)}"
        result.append(line)
    return tuple(line for line in result if line)


def qr_path(data: str) -> tuple[int, str]:
    """Module count (border included) and the PDF path of the dark modules in module units."""
    code = segno.make(data, error=QR_ERROR, micro=False, mask=QR_MASK)
    parts: list[str] = []
    for y, row in enumerate(code.matrix, start=QR_BORDER):
        row_y = f" {y} "
        parts.extend(f"{start + QR_BORDER}{row_y}{end - start} 1 re"
                     for start, end in (run.span() for run in _DARK_RUNS.finditer(row)))
    return len(code.matrix) + 2 * QR_BORDER, " ".join(parts)


class _Sheet:
    """Draws labels one after another onto a reportlab canvas."""

    def __init__(self, canvas: Canvas, layout: Layout) -> None:
        self.canvas = canvas
        self.layout = layout
        self.ascent = pdfmetrics.getFont(FONT_NAME).face.ascent / 1000
        self.descent = -pdfmetrics.getFont(FONT_NAME).face.descent / 1000

    def draw(self, label: Label, index: int, qr: tuple[int, str]) -> None:
        """Draw one label in cell `index` of the current page; qr: what `qr_path` gave."""
        layout = self.layout
        x, y = layout.cell(index)
        x, y = x * mm, y * mm
        pad = layout.padding * mm
        side = layout.qr_size * mm
        top = y + layout.label_height * mm - pad
        modules, path = qr
        unit = side / modules
        qr_x, qr_y = x + pad, y + (layout.label_height * mm - side) / 2
        # Module rows run downwards: flip y so the path can use the matrix indexes as they are.
        self.canvas.addLiteral(
            f"q {unit:.4f} 0 0 {-unit:.4f} {qr_x:.3f} {qr_y + side:.3f} cm {path} f Q")

        text_x = qr_x + side + 1.5 * mm
        width = x + layout.label_width * mm - pad - text_x
        canvas = self.canvas
        number = str(label.number)
        size = layout.number_size
        while size > 6 and text_width(number, size) > width:
            size -= 1
        baseline = top - self.ascent * size
        canvas.setFont(FONT_NAME, size)
        canvas.drawString(text_x, baseline, fit(number, size, width))

        bottom = y + pad
        category = fit(label.category, layout.category_size, width)
        if category:
            canvas.setFont(FONT_NAME, layout.category_size)
            canvas.drawString(text_x, bottom + self.descent * layout.category_size, category)
            bottom += (self.ascent + self.descent) * layout.category_size + 0.8 * mm

        leading = layout.text_size * 1.15
        room = baseline - self.descent * size - 0.8 * mm - bottom
        lines = min(layout.name_lines, int(room // leading))
        if lines > 0:
            canvas.setFont(FONT_NAME, layout.text_size)
            line_y = baseline - self.descent * size - 0.8 * mm - self.ascent * layout.text_size
            for line in wrap(label.name, layout.text_size, width, lines):
                canvas.drawString(text_x, line_y, line)
                line_y -= leading


def _chunk_paths(bot_username: str, numbers: list[int]) -> list[tuple[int, str]]:
    """QR paths of a chunk of labels (runs in a worker process)."""
    return [qr_path(deep_link(bot_username, number)) for number in numbers]


def qr_paths(numbers: Sequence[int], bot_username: str) -> Iterator[tuple[int, str]]:
    """QR paths in order; large jobs are encoded by worker processes, a few chunks ahead."""
    done = 0
    if len(numbers) >= PARALLEL_FROM and WORKERS > 1:
        chunks = [list(numbers[i:i + CHUNK]) for i in range(0, len(numbers), CHUNK)]
        try:
            # spawn, not fork: the bot has threads (and connections) a fork would copy mid-use
            with ProcessPoolExecutor(WORKERS, mp_context=get_context("spawn")) as pool:
                pending: deque[Future[list[tuple[int, str]]]] = deque()
                for chunk in chunks:
                    pending.append(pool.submit(_chunk_paths, bot_username, chunk))
                    while len(pending) > 2 * WORKERS or (chunk is chunks[-1] and pending):
                        for path in pending.popleft().result():
                            yield path
                            done += 1
            return
        except (OSError, BrokenProcessPool) as exc:
            # No processes allowed here, or a worker died: finish in this process.
            logger.warning("QR workers failed (%s); encoding the rest in-process", exc)
    for number in numbers[done:]:
        yield qr_path(deep_link(bot_username, number))


def render(labels: Sequence[Label], layout: Layout, bot_username: str,
           progress: ProgressFn | None = None) -> bytes:
    """A PDF with the labels in order, `layout.per_page` to a page; progress(done, total)."""
    ensure_font()
    total = len(labels)
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(layout.page_width * mm, layout.page_height * mm),
                    pageCompression=1, invariant=1)
    canvas.setTitle("Наклейки devtrack")  # PDF metadata, part of the file
    canvas.setCreator("devtrack")
    sheet = _Sheet(canvas, layout)
    per_page = layout.per_page
    paths = qr_paths([label.number for label in labels], bot_username)
    for done, (label, qr) in enumerate(zip(labels, paths, strict=True)):
        slot = done % per_page
        if slot == 0 and done:
            canvas.showPage()
        sheet.draw(label, slot, qr)
        if progress is not None and (done + 1) % PROGRESS_EVERY == 0:
            progress(done + 1, total)
    canvas.showPage()
    canvas.save()
    data = buffer.getvalue()
    logger.info("rendered %d labels (%s) into %d bytes", total, layout.key, len(data))
    return data
