"""Property: for any field values within the database limits, every screen fits and is valid HTML.

Random devices, people and lists (hypothesis, derandomized, explicit examples) are shown
through real updates; every text the bot sends or edits must parse as Telegram's HTML (only
its tags, balanced, escaped) and fit 4,096 UTF-16 units after entity parsing.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from conftest import ADMIN_ID, USER_ID, truncate_all
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from handlers import texts
from handlers.fit import utf16_len
from inventory.devices import search_text_for
from models import Category, Device, Loan, Person, QueueEntry
from playground.telegram_rules import MAX_TEXT_LENGTH, visible_text

SCREENS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture,
                                          HealthCheck.too_slow])
# Anything a spreadsheet or a Telegram profile can hold: markup characters, emoji, Cyrillic.
CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
MARKUP = st.sampled_from(["<", ">", "&", "&amp;", "<b>", "</code>", "😀", "Ё", "\n", " "])


def field(limit: int, min_size: int = 0) -> st.SearchStrategy[str]:
    """Text up to a column's limit, often at it (long values are where screens break)."""
    piece = st.one_of(st.text(CHARS, max_size=40), MARKUP)
    long = st.builds(lambda p, n: (p * n)[:limit], st.text(CHARS, min_size=1, max_size=5),
                     st.integers(limit // 2, limit))
    return st.one_of(st.lists(piece, max_size=12).map("".join).map(lambda s: s[:limit]),
                     long).filter(lambda s: len(s.strip()) >= min_size)


WORLD = st.fixed_dictionaries({
    "name": field(200, 1), "serial": field(200, 1), "firmware": field(200),
    "comment": field(5000), "category": field(100, 1), "person": field(200),
    "username": field(64), "place": field(200), "admin_name": field(200),
    "count": st.integers(1, 45), "overdue": st.booleans(),
})

LONGEST = {"name": "Я" * 200, "serial": "&" * 200, "firmware": "<b>" * 66, "comment": "😀" * 5000,
           "category": "К" * 100, "person": "<" * 200, "username": "u" * 64,
           "place": "&amp;" * 40, "admin_name": "😀" * 200, "count": 45, "overdue": True}


def build(world: dict, now) -> tuple[Device, Person]:
    """A category, `count` devices held by one person (one also held for them), a queue."""
    category = Category.create(name=world["category"].strip() or "К", created_at=now,
                               updated_at=now)
    person = Person.create(telegram_id=USER_ID, email="holder@company.ru",
                           name=world["person"], username=world["username"])
    admin = Person.create(telegram_id=ADMIN_ID, email="admin@company.ru",
                          name=world["admin_name"])
    due = date(2026, 11, 1) if world["overdue"] else date(2026, 12, 24)
    first = None
    for n in range(1, world["count"] + 1):
        serial = f"{world['serial'][:190]}-{n}"
        device = Device.create(number=n, name=world["name"], serial=serial,
                               firmware=world["firmware"], comment=world["comment"],
                               category=category, search_text=search_text_for(world["name"],
                                                                               serial))
        Loan.create(device=device, person=person, taken_at=now, due_date=due,
                    place=world["place"], assigned_by=admin, created_at=now, updated_at=now)
        first = first or device
    free = Device.create(number=1000, name=world["name"], serial=world["serial"][:190] + "-f",
                         category=category, comment=world["comment"],
                         search_text=search_text_for(world["name"], "f"))
    QueueEntry.create(device=free, person=person, joined_at=now,
                      hold_until=now + timedelta(hours=5))
    QueueEntry.create(device=first, person=admin, joined_at=now)
    return first, person


def check_screens(sender) -> None:
    """Every text sent or edited: Telegram's HTML, within 4,096 UTF-16 units, no error."""
    for call in sender.calls:
        if call.method not in ("sendMessage", "editMessageText"):
            continue
        shown = visible_text(call.text, "HTML")  # raises on unknown, unbalanced or raw markup
        assert utf16_len(shown.strip()) <= MAX_TEXT_LENGTH, call.text[:200]
        assert call.text not in (texts.ERROR, texts.ERROR_SHORT)
    assert texts.ERROR_SHORT not in sender.alerts()


@pytest.fixture
def screens(harness, conn):
    """Shows every screen of a world built from random values."""
    def run(world: dict) -> None:
        truncate_all(conn)
        harness.sender.clear()
        device, person = build(world, harness.clock.now)
        d = device.id
        for user_id, text in ((USER_ID, "1"), (USER_ID, "/mine"), (USER_ID, "/all"),
                              (USER_ID, "1000"), (USER_ID, "/wishlist"), (ADMIN_ID, "1"),
                              (ADMIN_ID, "holder@company.ru"), (ADMIN_ID, "/users holder"),
                              (USER_ID, world["category"].strip()[:50] or "К")):
            harness.send(user_id, text)
        for user_id, data in ((USER_ID, "mine:2"), (USER_ID, f"due:{d}"),
                              (ADMIN_ID, f"hist:{d}:1"), (ADMIN_ID, f"edit:{d}"),
                              (ADMIN_ID, f"edf:{d}:comment"), (ADMIN_ID, "cats"),
                              (ADMIN_ID, f"usr:{person.id}"), (ADMIN_ID, f"ush:{person.id}:1"),
                              (ADMIN_ID, f"ph:{person.id}:2"), (USER_ID, "all:2")):
            harness.press(user_id, data)
        check_screens(harness.sender)
    return run


@SCREENS
@given(world=WORLD)
@example(world=LONGEST)
@example(world={**LONGEST, "count": 1, "overdue": False, "username": "", "place": ""})
def test_every_screen_fits_and_is_valid_html(screens, world):
    screens(world)
