"""Faults never turn a saved action into an error message; nobody affected is left uninformed.

Bot API failures are played by the recording fake Bot API (conftest.RecordingSender).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from conftest import ADMIN_ID, USER_ID, dialog_state

from handlers import admin_import, render, texts
from inventory import handover, loans, queue
from models import Device, Handover, Loan, QueueEntry

OTHER_ID = 200
THIRD_ID = 300
HOURS = 24


@pytest.fixture
def people(seed):
    """A user, a colleague, a third person and an admin."""
    return (seed.person(USER_ID, name="Иван Петров"), seed.person(OTHER_ID, name="Ольга"),
            seed.person(THIRD_ID, name="Пётр"), seed.person(ADMIN_ID, name="Админ"))


@pytest.fixture
def slept(harness) -> list[float]:
    """The bot's retry waits, recorded instead of slept."""
    waits: list[float] = []
    harness.bot.notifier.sleep = waits.append
    return waits


def take(harness, device_id: int) -> None:
    """The take dialogue up to its last step (the due date button)."""
    harness.press(USER_ID, f"take:{device_id}")
    harness.send(USER_ID, "дома")


def no_error_told(sender) -> None:
    """Nobody was told that something went wrong."""
    assert texts.ERROR not in sender.texts()
    assert texts.ERROR_SHORT not in sender.alerts()


# --- replies under 429 and 5xx ----------------------------------------------------------------


def test_take_confirmation_waits_out_429_and_arrives(harness, seed, people, slept):
    device = seed.device(49)
    take(harness, device.id)
    # The date button turns the question into the confirmation in place (one edit).
    harness.sender.fail("editMessageText", 429, "Too Many Requests: retry after 3",
                        retry_after=3)
    sent = harness.press(USER_ID, "tkd:week")
    assert slept == [3.0]
    assert sent.last(USER_ID).text.startswith(texts.TAKEN.format(number=49, name="Эвотор 7.2"))
    assert Loan.get().person.telegram_id == USER_ID
    no_error_told(sent)


def test_take_confirmation_lost_to_5xx_claims_no_failure(harness, seed, people, slept):
    device = seed.device(49)
    take(harness, device.id)
    harness.sender.fail("editMessageText", 502, "Bad Gateway", times=20)
    sent = harness.press(USER_ID, "tkd:week")
    assert slept == [0.5, 1.0, 2.0]  # the notifier's backoff, then it gives up
    assert Loan.get().returned_at is None and Loan.get().place == "дома"
    assert dialog_state(USER_ID) is None
    no_error_told(sent)


def test_return_confirmation_retries_5xx_then_arrives(harness, seed, people, slept):
    user = people[0]
    device = seed.device(49)
    seed.loan(device, user)
    harness.sender.fail("editMessageText", 503, "Service Unavailable", times=2)
    sent = harness.press(USER_ID, f"reto:{device.id}")
    assert slept == [0.5, 1.0]
    assert sent.last(USER_ID).text.startswith(texts.RETURNED.format(number=49,
                                                                    name="Эвотор 7.2"))
    assert Loan.get().returned_at is not None
    no_error_told(sent)


def test_return_confirmation_lost_to_429_claims_no_failure(harness, seed, people, slept):
    user = people[0]
    device = seed.device(49)
    seed.loan(device, user)
    harness.sender.fail("editMessageText", 429, "Too Many Requests", retry_after=2, times=20)
    sent = harness.press(USER_ID, f"reto:{device.id}")
    assert slept and all(wait == 2.0 for wait in slept)
    assert Loan.get().returned_at is not None
    no_error_told(sent)


def test_an_edit_that_changes_nothing_is_success(harness, seed, people, slept):
    seed.device(49)
    harness.sender.fail("editMessageText", 400,
                        "Bad Request: message is not modified: specified new message content "
                        "and reply markup are exactly the same")
    sent = harness.press(USER_ID, "card:1")
    assert len(sent.of("editMessageText")) == 1 and slept == []
    no_error_told(sent)


# --- nobody uninformed -------------------------------------------------------------------------


def test_deleting_a_device_tells_who_waited_for_it(harness, seed, people, clock):
    user, other, third, _ = people
    device = seed.device(49)
    QueueEntry.create(device=device, person=other, joined_at=clock.now,
                      hold_until=clock.now + timedelta(hours=HOURS))
    QueueEntry.create(device=device, person=third, joined_at=clock.now)
    sent = harness.press(ADMIN_ID, f"delo:{device.id}")
    told = texts.NOTIFY_DEVICE_DELETED.format(number=49, name="Эвотор 7.2")
    assert sent.texts(OTHER_ID) == [told] and sent.texts(THIRD_ID) == [told]
    assert sent.texts(USER_ID) == []
    assert not Device.select().exists()


def test_purge_tells_who_waited_for_the_devices(harness, seed, people, clock, monkeypatch):
    from handlers import devtools as dev_handlers

    _, other, _, _ = people
    device = seed.device(49)
    seed.device(50)
    QueueEntry.create(device=device, person=other, joined_at=clock.now)
    monkeypatch.setattr(dev_handlers, "send_backup", lambda *args: True)
    ctx = type("C", (), {})()  # run_purge needs only what it uses from the context
    ctx.person, ctx.user_id, ctx.now = people[3], ADMIN_ID, clock.now
    ctx.bot = harness.bot
    ctx.send = lambda text, markup=None: harness.bot.send_message(ADMIN_ID, text)
    dev_handlers.run_purge(ctx, {"ids": [device.id], "category": ""})
    assert harness.sender.texts(OTHER_ID) == [texts.NOTIFY_DEVICE_DELETED.format(
        number=49, name="Эвотор 7.2")]
    assert Device.select().count() == 1


def test_assigning_a_device_held_for_someone_tells_them(harness, seed, people, clock):
    user, other, _, _ = people
    device = seed.device(49)
    QueueEntry.create(device=device, person=other, joined_at=clock.now,
                      hold_until=clock.now + timedelta(hours=HOURS))
    harness.press(ADMIN_ID, f"asg:{device.id}")
    harness.press(ADMIN_ID, f"asgp:{device.id}:{user.id}")
    skip = harness.sender.last(ADMIN_ID).button(texts.BTN_SKIP)["callback_data"]
    harness.press(ADMIN_ID, skip)
    no_due = harness.sender.last(ADMIN_ID).button(texts.BTN_NO_DUE)["callback_data"]
    sent = harness.press(ADMIN_ID, no_due)
    assert Loan.get().person_id == user.id
    assert sent.texts(OTHER_ID) == [texts.NOTIFY_HOLD_ASSIGNED.format(
        number=49, name="Эвотор 7.2", holder=render.person_name(user))]
    assert QueueEntry.get(QueueEntry.person == other).hold_until is None


def test_deleting_the_holder_of_a_hold_passes_it_on_at_once(harness, seed, people, clock):
    user, other, third, _ = people
    device = seed.device(49)
    QueueEntry.create(device=device, person=other, joined_at=clock.now,
                      hold_until=clock.now + timedelta(hours=HOURS))
    QueueEntry.create(device=device, person=third, joined_at=clock.now + timedelta(minutes=1))
    sent = harness.press(ADMIN_ID, f"usdo:{other.id}")
    assert sent.last(ADMIN_ID).text.startswith(texts.USER_DELETED.split("{")[0])
    hold = queue.queue_of(device.id, clock.now).hold
    assert hold is not None and hold.person_id == third.id
    offer = sent.last(THIRD_ID)
    assert "Эвотор 7.2" in offer.text and offer.button(texts.BTN_DECLINE_HOLD)
    assert sent.texts(OTHER_ID) == []


def test_deleting_the_colleague_of_a_pending_handover_tells_the_holder(harness, seed, people,
                                                                      clock):
    user, other, _, _ = people
    device = seed.device(49)
    loans.take(device.id, user, now=clock.now)
    offer = handover.offer(device.id, user, other, clock.now)
    sent = harness.press(ADMIN_ID, f"usdo:{other.id}")
    assert Handover.get_by_id(offer.id).status == handover.VOID
    assert sent.texts(USER_ID) == [texts.NOTIFY_HANDOVER_PERSON_DELETED.format(
        number=49, name="Эвотор 7.2", person="Ольга")]
    assert loans.open_loan(device.id).person_id == user.id


# --- an import cut off by a restart -------------------------------------------------------------


def test_an_import_cut_off_by_a_restart_is_reported_after_it(harness, make_harness, seed,
                                                            people, monkeypatch):
    seed.device(49)
    rows = ["Айди;Название;Категория;Артикул", "50;Атол;Онлайн-касса;AT-1"]
    monkeypatch.setattr(admin_import, "download", lambda ctx, document: (
        "\r\n".join(rows) + "\r\n").encode("utf-8"))
    harness.send(ADMIN_ID, "", document={"file_id": "f1", "file_unique_id": "u1",
                                         "file_name": "devices.csv", "file_size": 60})
    preview = harness.sender.last(ADMIN_ID)
    assert preview.button(texts.BTN_IMPORT)

    class Killed(BaseException):
        """The process dies here (SIGKILL, OOM): no handler code runs after it."""

    def killed(*args, **kwargs):
        raise Killed

    original = admin_import.apply_plan
    monkeypatch.setattr(admin_import, "apply_plan", killed)
    with pytest.raises(Killed):
        harness.press(ADMIN_ID, "imp:go", message_id=77)
    assert Device.select().count() == 1
    monkeypatch.setattr(admin_import, "apply_plan", original)

    restarted = make_harness()
    harness.sender.clear()
    assert admin_import.tell_interrupted(restarted.bot) == 1
    edit = harness.sender.of("editMessageText", ADMIN_ID)
    assert [c.text for c in edit] == [texts.IMPORT_INTERRUPTED.format(name="devices.csv")]
    assert int(edit[0].params["message_id"]) == 77
    assert dialog_state(ADMIN_ID) is None
    assert admin_import.tell_interrupted(restarted.bot) == 0  # told once


def test_import_applies_a_new_place_and_due_date_for_the_same_holder(harness, seed, people,
                                                                    monkeypatch):
    user = people[0]
    device = seed.device(49, serial="ZN-1")
    seed.loan(device, user, due=date(2026, 12, 1), place="склад")
    rows = ["Айди;Название;Категория;Артикул;Электронная почта;Место устройства;Дата возврата",
            f"49;Эвотор 7.2;Онлайн-касса;ZN-1;{user.email};офис 5;20.12.2026"]
    monkeypatch.setattr(admin_import, "download", lambda ctx, document: (
        "\r\n".join(rows) + "\r\n").encode("utf-8"))
    harness.send(ADMIN_ID, "", document={"file_id": "f1", "file_unique_id": "u1",
                                         "file_name": "devices.csv", "file_size": 60})
    preview = harness.sender.last(ADMIN_ID).text
    assert preview == texts.IMPORT_PREVIEW.format(name="devices.csv", new=0, updates=1, loans=0,
                                                  warnings="")
    sent = harness.press(ADMIN_ID, "imp:go")
    assert sent.last(ADMIN_ID).text == texts.IMPORT_DONE.format(
        name="devices.csv", created=0, updated=1, unchanged=0, loans=0, people=0)
    loan = Loan.get(Loan.returned_at.is_null())
    assert (loan.person_id, loan.place, loan.due_date) == (user.id, "офис 5", date(2026, 12, 20))
    assert Loan.select().count() == 1


# --- the database unreachable ------------------------------------------------------------------


def test_database_refusing_connections_gets_a_reply_that_needs_none(harness, seed, people,
                                                                    monkeypatch):
    import peewee as pw

    from handlers import middleware

    def refused(*args, **kwargs):
        raise pw.OperationalError("connection to server failed: Connection refused")

    monkeypatch.setattr(middleware.people, "with_dialog", refused)
    sent = harness.send(USER_ID, "эвотор")
    assert sent.texts(USER_ID) == [texts.DB_UNAVAILABLE]


def test_database_lost_during_a_button_gets_the_short_line(harness, seed, people, monkeypatch):
    import peewee as pw

    from handlers import browse

    def lost(*args, **kwargs):
        raise pw.InterfaceError("connection already closed")

    device = seed.device(49)
    monkeypatch.setattr(browse, "card_view", lost)
    sent = harness.press(USER_ID, f"card:{device.id}")
    assert sent.alerts() == [texts.DB_UNAVAILABLE_SHORT]


def test_an_import_giving_away_a_held_device_tells_whom_it_waited_for(harness, seed, people,
                                                                      clock, monkeypatch):
    user, other, _, _ = people
    device = seed.device(49, serial="ZN-1")
    QueueEntry.create(device=device, person=other, joined_at=clock.now,
                      hold_until=clock.now + timedelta(hours=HOURS))
    rows = ["Айди;Название;Категория;Артикул;Электронная почта",
            f"49;Эвотор 7.2;Онлайн-касса;ZN-1;{user.email}"]
    monkeypatch.setattr(admin_import, "download", lambda ctx, document: (
        "\r\n".join(rows) + "\r\n").encode("utf-8"))
    harness.send(ADMIN_ID, "", document={"file_id": "f1", "file_unique_id": "u1",
                                         "file_name": "devices.csv", "file_size": 60})
    sent = harness.press(ADMIN_ID, "imp:go")
    assert loans.open_loan(device.id).person_id == user.id
    assert sent.texts(OTHER_ID) == [texts.NOTIFY_HOLD_ASSIGNED.format(
        number=49, name="Эвотор 7.2", holder=render.person_name(user))]
    assert QueueEntry.get(QueueEntry.person == other).hold_until is None
