"""Regenerate docs/labels.png (the sample sheet in the README): run this file with the venv."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pypdfium2 as pdfium  # noqa: E402  (test dependency, like this script)

from inventory.labels import LAYOUTS, Label, render  # noqa: E402

DEVICES = [
    ("Эвотор 7.2 Стандарт", "Онлайн-касса"), ("АТОЛ 30Ф", "Фискальный регистратор"),
    ("Ingenico Move/5000 с зарядной базой", "Терминал эквайринга"), ("CAS ER Plus", "Весы"),
    ("Honeywell Voyager 1450g", "Сканер"), ("Samsung Galaxy Tab A8", "Планшет"),
    ("Штрих-М-01Ф", "Фискальный регистратор"),
    ("Эвотор 10 с весами, сканером и очень длинным названием", "Онлайн-касса"),
]


def main() -> None:
    """Render 24 labels on the A4 3 × 8 sheet and save the page as a grayscale PNG."""
    labels = [Label(101 + i, *DEVICES[i % len(DEVICES)]) for i in range(24)]
    pdf = pdfium.PdfDocument(render(labels, LAYOUTS["a4x24"], "devtrack_bot"))
    image = pdf[0].render(scale=1.6).to_pil().convert("L")
    image.save(ROOT / "docs" / "labels.png", optimize=True)


if __name__ == "__main__":
    main()
