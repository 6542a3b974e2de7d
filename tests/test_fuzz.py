"""Malformed input (hypothesis): random texts, buttons, files and sessions never end in a traceback.

`make test` runs these derandomized (the `ci` profile in conftest.py) with the explicit examples
below, so two runs cannot differ; `make fuzz` runs them with fresh random input for longer.
"""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from conftest import (
    ADMIN_ID,
    DEV_ID,
    USER_ID,
    Call,
    dialog_state,
    message_update,
    truncate_all,
)
from hypothesis import example, given, settings
from hypothesis import strategies as st

from handlers import admin_import, texts
from handlers.import_problems import file_error_text, problem_text
from inventory import importing
from inventory.importing import ExistingData, ImportFileError

PREFIXES = ["card", "take", "tkp", "tkd", "ret", "reto", "due", "cdd", "place", "all", "cat",
            "cats", "sq", "noop", "dlg", "qj", "ql", "hdx", "wl", "ho", "hoa", "hod", "hoc", "hop",
            "ext", "edit", "hist", "asg", "del", "dev", "imp", "zzz", ""]
COMMANDS = ["/start", "/help", "/cancel", "/all", "/categories", "/mine", "/wishlist", "/add",
            "/edit", "/users", "/dev"]
# What earlier runs and reviews found worth trying every time.
ZERO_WIDTH = "\u200b\u200c\u200d\ufeff"
RTL = "\u202eابت\u200f עברית"
LONG = "я" * 4096
TWENTY_DIGITS = "9" * 20
# «³», «²», «①», «¹»: str.isdigit() accepts them, int() does not; they are searched as text.
SUPERSCRIPTS = ["³", "²", "¹", "①", "49²", "#³"]

_file_ids = itertools.count(1)


def build_world(seed) -> tuple:
    """A registered user, an admin and a developer, a few devices, one held."""
    user = seed.person(USER_ID, username="ivan")
    admin = seed.person(ADMIN_ID, "admin@company.ru", name="Админ")
    seed.person(DEV_ID, "dev@company.ru", name="Разработчик")
    for number in (1, 2, 49):
        seed.device(number, f"Эвотор {number}")
    seed.loan(seed.device(50, "Атол"), user)
    return user, admin


@pytest.fixture
def world(seed, harness):
    """build_world once for the whole test (the examples share it)."""
    return build_world(seed)


@pytest.fixture
def downloads(monkeypatch, sender):
    """Serve uploaded documents from sender.files instead of the Telegram file URL."""

    def fetch(token: str, file_path: str, limit: int) -> bytes:
        raw = sender.files[file_path]
        if len(raw) > limit:
            raise admin_import.FileTooBig(len(raw))
        return raw

    monkeypatch.setattr(admin_import, "fetch_file", fetch)


def no_failure(sender) -> None:
    """Nothing went wrong: no error text, no error alert (the recorder enforces Telegram rules)."""
    assert texts.ERROR not in sender.texts()
    assert texts.ERROR_SHORT not in sender.alerts()


@given(text=st.text(min_size=1, max_size=300))
@example(text="\x00")
@example(text="49\x00")
@example(text=TWENTY_DIGITS)
@example(text="-" + TWENTY_DIGITS)
@example(text="#" + TWENTY_DIGITS)
@example(text=LONG)
@example(text="4" * 4096)
@example(text=RTL)
@example(text=ZERO_WIDTH)
@example(text="49" + ZERO_WIDTH)
@example(text="<b>&amp;</b>")
def test_any_text_from_a_user_or_an_admin(harness, world, text):
    harness.sender.clear()  # the fixtures live across examples: judge this one alone
    for user_id in (USER_ID, ADMIN_ID):
        harness.send(user_id, text)
    no_failure(harness.sender)


@pytest.mark.parametrize("text", SUPERSCRIPTS)
def test_superscript_digits_are_searched_not_crashed_on(harness, world, text):
    for user_id in (USER_ID, ADMIN_ID):
        harness.send(user_id, text)
    no_failure(harness.sender)


@given(prefix=st.sampled_from(PREFIXES),
       args=st.lists(st.one_of(st.integers(-5, 10**12).map(str), st.text(max_size=12)),
                     max_size=4))
@example(prefix="card", args=[TWENTY_DIGITS])
@example(prefix="take", args=["-1"])
@example(prefix="due", args=["50", "\x00"])
@example(prefix="all", args=["²"])
@example(prefix="qj", args=[ZERO_WIDTH])
@example(prefix="hist", args=["49", RTL])
def test_any_button_data(harness, world, prefix, args):
    harness.sender.clear()
    data = ":".join([prefix, *args])[:64]
    for user_id in (USER_ID, ADMIN_ID):
        harness.press(user_id, data)
    no_failure(harness.sender)


@given(raw=st.binary(max_size=2000), extension=st.sampled_from([".csv", ".txt", ".xlsx", ".pdf"]))
@example(raw=b"\x00" * 10, extension=".csv")
@example(raw="номер;название\n³;x\n".encode(), extension=".csv")
@example(raw=("номер;название\n" + TWENTY_DIGITS + ";x\n").encode(), extension=".csv")
@example(raw=("номер;название\n1;" + RTL + ZERO_WIDTH + "\n").encode(), extension=".csv")
@example(raw=b"PK\x03\x04broken", extension=".xlsx")
def test_any_file_gives_a_plan_or_a_clear_refusal(raw, extension):
    try:
        rows = importing.read_table(raw, "file" + extension)
    except ImportFileError as err:
        assert file_error_text(err)
        return
    plan = importing.build_plan(rows, ExistingData(), date(2026, 12, 1))
    assert all(problem_text(error).startswith("Строка ") for error in plan.errors)


# --- sessions: random walks through commands, offered buttons, texts and documents -----------

TEXTS = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["49", "1", "50", "эвотор", "атол", "да", "нет", "31.12.2026", "01.01.2020",
                     "завтра", "user100@company.ru", "admin@company.ru", "Иван", "s3cret-code",
                     TWENTY_DIGITS, "\x00", RTL, ZERO_WIDTH, LONG]),
)
ACTIONS = st.sampled_from(["command", "text", "offered", "offered", "offered", "random_button",
                           "document", "answer", "answer", "answer"])
# How sessions begin: each dialogue starts from one of these (a card offers take, assign, ...).
OPENERS = ["/add", "/edit", "/users", "/dev", "/mine", "/wishlist", "1", "49", "50", "эвотор"]
# A sensible answer for each dialogue state, so that walks get past the first step of each
# dialogue and into the later ones (dialogue states not listed get random text).
ANSWERS = {
    "add:number": ["60", "49", "0"], "add:name": ["Новый прибор"], "add:serial": ["SN-NEW-1"],
    "add:registered_on": ["01.11.2026"], "add:firmware": ["1.0"], "add:comment": ["-"],
    "add:newcat": ["Весы"], "add:place": ["офис"], "add:due": ["31.12.2026"],
    "add:holder": ["user100@company.ru", "nobody@company.ru"], "add:category": ["Онлайн-касса"],
    "assign:who": ["user100@company.ru", "Иван", "new.person@company.ru"],
    "assign:place": ["офис"], "assign:due": ["31.12.2026", "вчера"],
    "edit:number": ["49", "50", "999"], "edit:value": ["Новое имя", "77", "01.01.2026"],
    "edit:newcat": ["Сканеры"], "users:query": ["user", "admin@company.ru", "@ivan"],
    "users:email": ["new.mail@company.ru", "admin@company.ru"], "users:comment": ["в отпуске"],
    "dev:code": ["s3cret-code", "wrong"], "take:place": ["дома"], "take:due": ["31.12.2026"],
    "due:date": ["31.12.2026", "01.01.2020"], "place:text": ["склад"],
    "handover:who": ["Админ", "admin@company.ru", "Иван"],
}


def offered_buttons(calls: list[Call], chat_id: int) -> list[str]:
    """callback_data of the buttons under the last few messages the chat got."""
    shown = [c for c in calls if c.method in ("sendMessage", "editMessageText")
             and int(c.params.get("chat_id", 0)) == chat_id][-3:]
    return [b["callback_data"] for c in shown for b in c.buttons if "callback_data" in b]


def send_document(harness, user_id: int, raw: bytes, name: str) -> None:
    """An uploaded file, served by the `downloads` fixture."""
    file_id = f"fuzz{next(_file_ids)}"
    harness.sender.files[f"documents/{file_id}"] = raw
    document = {"file_id": file_id, "file_unique_id": file_id, "file_name": name,
                "file_size": len(raw)}
    harness.update(message_update(user_id, None, document=document))


# A session is many updates: a third of the profile's examples (make fuzz: hundreds).
@settings(max_examples=max(20, settings.default.max_examples // 3))
@given(data=st.data())
def test_random_sessions_through_every_dialogue(harness, seed, conn, downloads, data):
    """A user, an admin and a developer click what the bot offers and type anything at all.

    One of them leads each session; inside a dialogue they mostly give a sensible answer or
    press an offered button, so that walks reach the later steps of every dialogue.
    """
    # What a session draws depends on the buttons it was offered: start each from scratch.
    truncate_all(conn)
    build_world(seed)
    harness.sender.clear()
    lead = data.draw(st.sampled_from([ADMIN_ID, ADMIN_ID, DEV_ID, USER_ID]), label="lead")
    harness.send(lead, data.draw(st.sampled_from(OPENERS), label="opener"))
    for _ in range(data.draw(st.integers(5, 40), label="steps")):
        user_id = lead if data.draw(st.integers(0, 9), label="who") else data.draw(
            st.sampled_from([USER_ID, ADMIN_ID, DEV_ID]), label="other")
        state = dialog_state(user_id)
        if state and data.draw(st.integers(0, 9), label="in dialogue") < 8:
            action = data.draw(st.sampled_from(["answer", "answer", "offered", "text"]),
                               label="action")
        else:
            action = data.draw(ACTIONS, label="action")
        step(harness, data, user_id, action, state)
        no_failure(harness.sender)


def step(harness, data, user_id: int, action: str, state: str | None) -> None:
    """One thing a person does in a session."""
    if action == "command":
        harness.send(user_id, data.draw(st.sampled_from(COMMANDS), label="command"))
    elif action == "text":
        harness.send(user_id, data.draw(TEXTS, label="text"))
    elif action == "answer":
        good = ANSWERS.get(state or "", [])
        harness.send(user_id, data.draw(st.sampled_from(good) if good else TEXTS, label="answer"))
    elif action == "offered":
        buttons = offered_buttons(harness.sender.calls, user_id)
        if buttons:
            harness.press(user_id, data.draw(st.sampled_from(buttons), label="button"))
    elif action == "random_button":
        prefix = data.draw(st.sampled_from(PREFIXES), label="prefix")
        arg = data.draw(st.one_of(st.integers(-1, 60).map(str), st.text(max_size=8)),
                        label="arg")
        harness.press(user_id, f"{prefix}:{arg}"[:64])
    else:
        raw = data.draw(st.one_of(
            st.binary(max_size=300),
            st.just("номер;название;категория\n60;Новый;Онлайн-касса\n".encode("cp1251"))),
            label="file")
        name = data.draw(st.sampled_from(["d.csv", "d.xlsx", "d.txt", "d.pdf"]), label="name")
        send_document(harness, user_id, raw, name)
