"""Authorization: a non-admin gets exactly what a failed search or an unknown button gets."""

from __future__ import annotations

import pytest
from conftest import ADMIN_ID, USER_ID, callback_update, message_update
from telebot import types

from handlers import texts
from handlers.routing import ROLE_ADMIN
from models import MODELS, DialogState, QueueEntry

ADMIN_PREFIXES = {"add", "imp", "edit", "edf", "edv", "hist", "del", "delo", "asg", "asgp",
                  "asgs", "una", "unao", "usr", "usq", "ush", "use", "usc", "usx", "usd",
                  "usdo", "ph",
                  # issue 18: access requests, admin rights, deleted people and restoring them
                  "acc", "usa", "usn", "usdl", "usdc", "usrs", "lbl", "axp"}


@pytest.fixture
def world(seed):
    """A user (whose Telegram profile matches the stored one), an admin, devices, a loan."""
    user = seed.person(USER_ID, "ivan@company.ru", name="Иван", username=f"user{USER_ID}")
    admin = seed.person(ADMIN_ID, "admin@company.ru", name="Админ")
    other = seed.person(None, "other@company.ru", name="Ольга")
    seed.category("Сканер")
    free = seed.device(49, "Эвотор 7.2")
    held = seed.device(50, "Атол")
    loan = seed.loan(held, other)
    QueueEntry.create(device=held, person=other)
    return {"user": user, "admin": admin, "other": other, "free": free, "held": held,
            "loan": loan}


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every table."""
    return {model.__name__: [tuple(row.values()) for row in
                             model.select().order_by(model.id).dicts()] for model in MODELS}


def reply_to_message(harness, text: str) -> list[tuple[str, dict]]:
    """What the bot sent back to a text from the user (method and parameters)."""
    harness.sender.clear()
    harness.bot.process_new_updates([types.Update.de_json(
        message_update(USER_ID, text, last_name=""))])
    return [(c.method, c.params) for c in harness.sender.calls]


def reply_to_press(harness, data: str) -> list[tuple[str, dict]]:
    """What the bot sent back to a button press (the query id, unique per press, dropped)."""
    harness.sender.clear()
    harness.bot.process_new_updates([types.Update.de_json(callback_update(USER_ID, data))])
    return [(c.method, {k: v for k, v in c.params.items() if k != "callback_query_id"})
            for c in harness.sender.calls]


@pytest.mark.parametrize("command", ["/add", "/edit", "/edit 49", "/users", "/users ivan",
                                     "/users ivan@company.ru", "/add@devtrack_test_bot",
                                     "/labels", "/export"])
def test_admin_commands_look_like_a_failed_search(harness, world, command):
    before = snapshot()
    reply = reply_to_message(harness, command)
    assert reply == [("sendMessage", {"chat_id": str(USER_ID),
                                      "text": texts.NOT_FOUND.format(query=texts.e(command)),
                                      "parse_mode": "HTML"})]
    assert snapshot() == before


def test_every_admin_button_is_registered_with_the_admin_role(harness):
    admin_routes = {prefix for prefix, route in harness.bot.routes.callbacks.items()
                    if route.role == ROLE_ADMIN}
    assert admin_routes == ADMIN_PREFIXES


def forged(world: dict) -> list[str]:
    """Plausible data for every admin button, with real ids."""
    free, held, loan = world["free"].id, world["held"].id, world["loan"].id
    other, user = world["other"].id, world["user"].id
    return [
        "add:number:back", "add:confirm:ok", "add:category:cat:1", "add:holder:skip",
        "imp:go", "imp:no",
        f"edit:{free}", f"edf:{free}:name", f"edv:{free}:comment:clear", f"hist:{held}:1",
        f"del:{free}", f"delo:{free}",
        f"asg:{free}", f"asgp:{free}:{user}", f"asgs:{free}:due:pick:week",
        f"una:{held}", f"unao:{held}:{loan}",
        f"usr:{other}", "usq:1:ivan", f"ush:{other}:1", f"use:{other}", f"usc:{other}",
        f"usx:{other}", f"usd:{other}", f"usdo:{other}",
        "acc:1:ok", f"usa:{user}", f"usn:{user}", "usdl:1", f"usdc:{other}", f"usrs:{other}",
        f"ph:{other}:1",
        "lbl:all", "lbl:go:a4x24", "axp:f:xlsx", "axp:go:csv:all",
    ]


def test_forged_admin_buttons_answer_like_unknown_data(harness, world):
    data = forged(world)
    assert {d.split(":")[0] for d in data} == ADMIN_PREFIXES
    unknown = reply_to_press(harness, "zzz:1")
    assert unknown == [("answerCallbackQuery", {"text": texts.STALE_BUTTON,
                                                "show_alert": True})]
    before = snapshot()
    for item in data:
        assert reply_to_press(harness, item) == unknown, item
    assert snapshot() == before


def test_forged_buttons_do_nothing_even_inside_an_admin_dialogue_state(harness, world):
    # As if the person had been an admin and lost the role in the middle of /add.
    DialogState.create(chat_id=USER_ID, state="add:confirm",
                       data='{"number": 51, "name": "X", "category": "Сканер", "serial": "X"}')
    before = snapshot()
    unknown = reply_to_press(harness, "zzz:1")
    assert reply_to_press(harness, "add:confirm:ok") == unknown
    assert snapshot() == before
    # Typed text is a search, and the stale admin state is dropped.
    reply = reply_to_message(harness, "51")
    assert reply[-1][1]["text"] == texts.NOT_FOUND.format(query="51")
    assert DialogState.get(DialogState.chat_id == USER_ID).state is None


def test_documents_from_non_admins_are_unsupported_messages(harness, world):
    before = snapshot()
    harness.sender.clear()
    harness.update(message_update(USER_ID, None, last_name="", document={
        "file_id": "f", "file_unique_id": "f", "file_name": "devices.csv", "file_size": 10}))
    assert [(c.method, c.params.get("text")) for c in harness.sender.calls] == [
        ("sendMessage", texts.UNSUPPORTED_MESSAGE)]
    assert snapshot() == before


def test_the_same_commands_work_for_the_admin(harness, world):
    assert harness.send(ADMIN_ID, "/add").last(ADMIN_ID).text.endswith(
        texts.ADD_ASK_NUMBER.format(example=51))
    assert harness.send(ADMIN_ID, "/edit 49").last(ADMIN_ID).text.endswith(texts.EDIT_MENU)
    assert harness.send(ADMIN_ID, "/users").last(ADMIN_ID).text.startswith("<b>Сотрудники</b>")
