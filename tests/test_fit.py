"""Everything fits in a message: long imported fields, long lists, wide imports.

The recording Bot API rejects what Telegram would (4,096 UTF-16 units after entity parsing,
valid HTML), so a screen that does not fit shows up here as the bot's error message.
"""

from __future__ import annotations

from datetime import date

import pytest
from conftest import ADMIN_ID, USER_ID
from test_admin_import import HEADER, ROWS, csv_bytes, downloads, upload  # noqa: F401

from handlers import texts
from handlers.fit import fit, utf16_len, visible_length
from handlers.import_problems import problem_text
from inventory import importing
from models import Device
from playground.telegram_rules import MAX_TEXT_LENGTH, visible_text

LONG_COMMENT = ("Очень подробный комментарий из старой таблицы & <примечание> " * 90)[:5000]


def no_failure(sender) -> None:
    """No error text, no error alert."""
    assert texts.ERROR not in sender.texts()
    assert texts.ERROR_SHORT not in sender.alerts()


def fits(text: str) -> bool:
    """Within Telegram's limit after entity parsing (strict HTML, as Telegram parses)."""
    return utf16_len(visible_text(text, "HTML")) <= MAX_TEXT_LENGTH


@pytest.fixture
def world(seed):
    """A user with a long name, an admin, a device with a 5,000-character comment."""
    user = seed.person(USER_ID, "ivan@company.ru", name="Иван " + "Длинная-Фамилия" * 14,
                       username="ivan")
    admin = seed.person(ADMIN_ID, "admin@company.ru", name="Админ")
    seed.category("Сканер")
    device = seed.device(49, "Эвотор 7.2", comment=LONG_COMMENT)
    return user, admin, device


def test_a_5000_character_comment_shows_everywhere(harness, world):
    user, _, device = world
    sender = harness.sender
    card = harness.send(USER_ID, "49").last(USER_ID)
    assert card.text.startswith(texts.CARD_TITLE.format(number=49, name="Эвотор 7.2"))
    assert "…" in card.text and fits(card.text)
    for data in (f"card:{device.id}", f"take:{device.id}", "tkp:skip", "tkd:week",
                 f"card:{device.id}", f"ret:{device.id}"):
        harness.press(USER_ID, data)
    harness.send(ADMIN_ID, "49")
    harness.send(ADMIN_ID, "/edit 49")
    harness.press(ADMIN_ID, f"edf:{device.id}:comment")
    no_failure(sender)
    assert all(fits(text) for text in sender.texts())
    # The admin can fix it in the bot: a new comment within the limit is saved.
    harness.send(ADMIN_ID, "с блоком питания")
    no_failure(sender)
    assert Device.get_by_id(device.id).comment == "с блоком питания"


@pytest.mark.parametrize("viewer", ["mine", "admin_search", "admin_users"])
def test_45_long_named_devices_page_in_every_view(harness, world, seed, viewer):
    user, _, _ = world
    for n in range(1, 46):
        seed.loan(seed.device(100 + n, f"{n} " + "Весы торговые с очень длинным именем " * 6),
                  user)
    if viewer == "mine":
        call = harness.send(USER_ID, "/mine").last(USER_ID)
        chat = USER_ID
    elif viewer == "admin_search":
        call = harness.send(ADMIN_ID, "@ivan").last(ADMIN_ID)
        chat = ADMIN_ID
    else:
        users = harness.send(ADMIN_ID, "/users ivan@company.ru").last(ADMIN_ID)
        call, chat = users, ADMIN_ID
    no_failure(harness.sender)
    assert fits(call.text)
    if viewer != "admin_users":
        assert call.button(texts.PAGE.format(page=1, pages=5))
        last = harness.press(chat, call.button(texts.BTN_NEXT)["callback_data"]).last(chat)
        assert last.method == "editMessageText" and fits(last.text)
        assert "<b>111</b>" in last.text and "<b>110</b>" not in last.text
    no_failure(harness.sender)


def test_an_import_with_80_unknown_columns_previews(harness, world, seed, downloads,  # noqa: F811
                                                    sender):
    header = HEADER + [f"Лишний столбец номер {i} " + "x" * 300 for i in range(80)]
    rows = [row + [""] * 80 for row in ROWS]
    for name in ("Онлайн-касса", "Весы"):
        seed.category(name)
    call = upload(harness, ADMIN_ID, csv_bytes([header, *rows], "utf-8"), "wide.csv").last(
        ADMIN_ID)
    no_failure(sender)
    assert fits(call.text)
    assert call.text.endswith("Импортировать?")
    assert texts.IMPORT_WARNINGS_MORE.format(count=70) in call.text
    assert call.button(texts.BTN_IMPORT)


def test_the_importer_applies_the_field_limits_of_add_and_edit():
    from inventory.catalog import LIMITS

    rows = [list(HEADER),
            ["1", "Эвотор", "Сканер", "EV-1", "", "", "к" * (LIMITS["comment"] + 1), "", "", ""],
            ["2", "Э" * (LIMITS["name"] + 1), "Сканер", "EV-2", "", "", "", "", "", ""],
            ["3", "Весы", "Сканер", "EV-3", "", "", "к" * LIMITS["comment"], "", "", ""]]
    existing = importing.ExistingData(categories={"сканер": "Сканер"})
    plan = importing.build_plan(rows, existing, date(2026, 12, 1))
    failed = {error.row: problem_text(error) for error in plan.errors}
    assert set(failed) == {2, 3}
    assert str(LIMITS["comment"]) in failed[2] and str(LIMITS["name"]) in failed[3]


# --- fit() itself ----------------------------------------------------------------------------


def test_fit_keeps_short_texts_and_tags():
    text = "<b>№1 · Весы</b>\nКомментарий: a &amp; b"
    assert fit(text) == text
    long = "<b>№1 · " + "x&amp;" * 3000 + "</b>\n<code>" + "y" * 5000 + "</code>\nКонец"
    shortened = fit(long)
    assert fits(shortened) and visible_length(shortened) <= MAX_TEXT_LENGTH
    assert shortened.startswith("<b>№1 · x&amp;") and shortened.endswith("</code>\nКонец")
    assert "…</b>" in shortened and "…</code>" in shortened


def test_fit_drops_lines_when_there_are_too_many():
    text = "\n".join(f"<b>{i}</b> строка" for i in range(2000))
    shortened = fit(text)
    assert fits(shortened) and shortened.endswith("\n…")
    assert shortened.startswith("<b>0</b> строка\n<b>1</b> строка")


def test_fit_counts_utf16_units():
    text = "😀" * 2100  # 4,200 UTF-16 units in 2,100 characters
    assert len(text) < MAX_TEXT_LENGTH < utf16_len(text)
    assert fits(fit(text))
