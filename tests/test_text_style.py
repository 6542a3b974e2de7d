"""Every template in handlers/texts.py, checked against the style rules a machine can check.

One voice: short and polite, «вы» lower case mid-sentence, no «!», dates only through
texts.fmt_date (dd.mm.yyyy), names never after a preposition that would decline them, no
«(а)» gender guesses, the same words for the same things.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from handlers import texts

ROOT = Path(__file__).resolve().parent.parent
SOURCE = (ROOT / "handlers" / "texts.py").read_text(encoding="utf-8")


def templates() -> dict[str, str]:
    """Every Russian string the module defines: constants, and the items of tuples and dicts."""
    found: dict[str, str] = {}
    for name, value in vars(texts).items():
        if not name.isupper():
            continue
        if isinstance(value, str):
            found[name] = value
        elif isinstance(value, tuple):
            found.update({f"{name}[{i}]": v for i, v in enumerate(value) if isinstance(v, str)})
        elif isinstance(value, dict):
            found.update({f"{name}[{k}]": v for k, v in value.items() if isinstance(v, str)})
    return found


TEMPLATES = templates()
PLACEHOLDER = re.compile(r"\{[a-z_]*\}")
DATE_LITERAL = re.compile(r"\b\d{2}\.\d{2}(?:\.\d{2,4})?\b")  # 15.12, 01.02.2024; not 7.2
DATE_FORMAT = re.compile(r"%[dmyY]")
NAME_SLOTS = "holder|person|admin|name|other"
PREPOSITIONS = "у|для|на|с|со|о|об|от|к|ко|при|по"
DECLINING = re.compile(rf"(?i)(?:^|[\s(«])(?:{PREPOSITIONS})\s+\{{({NAME_SLOTS})\}}")
GENDER_GUESS = re.compile(r"\w\((?:а|на|ей|её|ла)\)")
POLITE_CAPITAL = re.compile(r"\b(?:Вы|Вас|Вам|Вами|Ваш\w*)\b")
# The same thing has one name: the due date is «срок возврата», a device is an «устройство».
SYNONYMS = [r"(?i)дата возврата", r"(?i)дату возврата", r"(?i)вернуть до \{date\}",
            r"(?i)\bаппарат", r"(?i)\bдевайс", r"(?i)до какого числа"]


def test_there_are_templates_to_check():
    assert len(TEMPLATES) > 200
    assert "STATE_HELD" in TEMPLATES and "DEV_TABLE_TITLES[device]" in TEMPLATES


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_no_exclamation_marks(name):
    assert "!" not in TEMPLATES[name]


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_polite_you_is_lower_case_mid_sentence(name):
    text = re.sub(r"<[^>]+>", "", TEMPLATES[name])
    for match in POLITE_CAPITAL.finditer(text):
        before = text[:match.start()].rstrip(" «\"")
        mid_sentence = before and (before[-1].isalnum() or before[-1] in ",;—-(")
        assert not mid_sentence, (name, text)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_names_are_never_declined_or_gendered(name):
    text = TEMPLATES[name]
    assert not DECLINING.search(text), (name, text)
    assert not GENDER_GUESS.search(text), (name, text)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_one_word_for_one_thing(name):
    for pattern in SYNONYMS:
        assert not re.search(pattern, TEMPLATES[name]), (name, pattern)


def test_no_date_is_written_by_hand_in_texts():
    # Literal strings of texts.py: a date in them would bypass fmt_date (examples use it too).
    literals = [node.value for node in ast.walk(ast.parse(SOURCE))
                if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    assert not [s for s in literals if DATE_LITERAL.search(s)]
    assert [s for s in literals if DATE_FORMAT.search(s)] == ["%d.%m.%Y"]  # fmt_date's alone


def test_no_handler_formats_a_date_for_people():
    # Handlers format dates only through texts.fmt_date / fmt_time; %Y-%m-%d button data is fine.
    for path in (ROOT / "handlers").glob("*.py"):
        if path.name == "texts.py":
            continue
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"%d\.%m", source), path.name


def test_dates_render_as_dd_mm_yyyy():
    from datetime import date, datetime

    assert texts.fmt_date(date(2026, 12, 5)) == "05.12.2026"
    assert texts.fmt_time(datetime(2026, 12, 5, 9, 7)) == "05.12.2026 09:07"
    assert "fmt_short_date" not in vars(texts)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_templates_are_valid_telegram_html(name):
    from playground.telegram_rules import parse_html

    filled = PLACEHOLDER.sub("x", TEMPLATES[name])
    parse_html(filled)  # raises on a tag Telegram does not know or an unbalanced one
