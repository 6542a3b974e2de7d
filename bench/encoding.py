"""Which detector reads Cyrillic CSV files better: cchardet or the letter-frequency scorer.

`python -m bench.encoding [--samples N]` prints, per input size and encoding, how often each
detector picks the right codec and how long one detection takes. docs/encoding.md keeps the
numbers and the choice they led to. Inputs are generated from a fixed seed (device lists like
the ones admins import), so runs are comparable.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import cchardet

from inventory import importing

ENCODINGS = ("cp1251", "koi8-r", "cp866")
WORDS = (
    "Эвотор Атол Штрих Меркурий Сканер Весы Планшет Принтер кухонный касса терминал эквайринга "
    "фискальный регистратор накопитель прошивка склад офис ремонт новый старый Москва "
    "Петров Иванова Сидоров Смирнова кабинет этаж у бухгалтерии витрина зал Ёлка ФР ККТ ЗН"
).split()
SIZES = {"one word": 0, "one row": 1, "5 rows": 5, "50 rows": 50, "1,000 rows": 1000,
         "20,000 rows": 20000, "5 rows, UPPER CASE": -5, "50 rows, UPPER CASE": -50}


def text_of(rows: int, rng: random.Random) -> str:
    """A device list with `rows` rows (upper-cased if negative), or one short word for 0."""
    if rows < 0:
        return text_of(-rows, rng).upper()
    if rows == 0:
        return rng.choice([w for w in WORDS if len(w) <= 6])
    lines = ["Айди;Название;Категория;Артикул;Комментарий"]
    for n in range(1, rows + 1):
        name = " ".join(rng.sample(WORDS, 2))
        comment = " ".join(rng.sample(WORDS, rng.randint(0, 3)))
        lines.append(f"{n};{name} {rng.randint(1, 9)}.{rng.randint(0, 9)};"
                     f"{rng.choice(WORDS)};SN{rng.randint(10**6, 10**7)};{comment}")
    return "\n".join(lines) + "\n"


def by_cchardet(raw: bytes) -> str | None:
    """cchardet alone, on the whole input."""
    name = (cchardet.detect(raw).get("encoding") or "").lower()
    return importing._CHARDET_NAMES.get(name)


def by_cchardet_sample(raw: bytes) -> str | None:
    """cchardet on the first 64 KB only (what the importer passes it as a hint)."""
    return by_cchardet(raw[:importing._HINT_SAMPLE])


def by_scorer(raw: bytes) -> str:
    """The letter-frequency scorer without cchardet's hint."""
    saved = importing._HINT_WEIGHT
    importing._HINT_WEIGHT = 0.0
    try:
        return importing._best_single_byte(raw)[1]
    finally:
        importing._HINT_WEIGHT = saved


def by_scorer_with_hint(raw: bytes) -> str:
    """The scorer with cchardet's guess as a small bonus (the code before this measurement)."""
    return importing._best_single_byte(raw)[1]


def by_decode_bytes(raw: bytes) -> str:
    """What the importer does now (returns the codec whose text equals its result)."""
    text = importing.decode_bytes(raw)
    for encoding in ENCODINGS:
        try:
            if raw.decode(encoding) == text:
                return encoding
        except UnicodeDecodeError:
            continue
    return "other"


DETECTORS: dict[str, Callable[[bytes], str | None]] = {
    "cchardet": by_cchardet,
    "cchardet 64 KB": by_cchardet_sample,
    "scorer": by_scorer,
    "scorer+hint": by_scorer_with_hint,
    "decode_bytes": by_decode_bytes,
}


def measure(samples: int, seed: int = 19) -> list[tuple[str, str, str, float, float]]:
    """(size, encoding, detector, accuracy %, median ms per detection)."""
    rows = []
    for size, count in SIZES.items():
        n = max(3, samples // 20) if abs(count) >= 1000 else samples
        for encoding in ENCODINGS:
            rng = random.Random(f"{seed}-{size}-{encoding}")
            inputs = [text_of(count, rng).encode(encoding) for _ in range(n)]
            for name, detect in DETECTORS.items():
                right, times = 0, []
                for raw in inputs:
                    started = time.process_time()
                    got = detect(raw)
                    times.append((time.process_time() - started) * 1000)
                    right += got == encoding
                rows.append((size, encoding, name, 100.0 * right / n, statistics.median(times)))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.encoding", description=__doc__)
    parser.add_argument("--samples", type=int, default=200, help="inputs per size and encoding")
    args = parser.parse_args(argv)
    print("| input | encoding | detector | right | median ms |")
    print("|---|---|---|---|---|")
    for size, encoding, name, accuracy, ms in measure(args.samples):
        print(f"| {size} | {encoding} | {name} | {accuracy:.0f}% | {ms:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
