"""Queue, holds, /wishlist and handover through updates in / Bot API calls out."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from conftest import ADMIN_ID, T0, USER_ID

from handlers import render, texts
from handlers.handover import HANDOVER_WHO
from inventory import handover, queue
from inventory.devices import PAGE_SIZE
from models import AuditLog, DialogState, Handover, Loan, Person, QueueEntry

A_ID, B_ID, C_ID = USER_ID, 200, 300
TODAY = date(2026, 11, 26)
HOLD_UNTIL = "27.11.2026 12:00"  # T0 + HOLD_HOURS, in Moscow time
NAME = {"number": 7, "name": "Эвотор 7.2"}


@pytest.fixture
def people(seed):
    """A holds device №7; B and C are colleagues; plus an admin."""
    a = seed.person(A_ID, "anna@company.ru", name="Анна Белова", username="anna")
    b = seed.person(B_ID, "boris@company.ru", name="Борис Ким", username="boris")
    c = seed.person(C_ID, "vera@company.ru", name="Вера Ли", username="vera")
    seed.person(ADMIN_ID, "admin@company.ru", name="Админ")
    return a, b, c


@pytest.fixture
def device(seed, people):
    """Device №7, held by A until 10.12.2026 at «склад»."""
    device = seed.device(7, "Эвотор 7.2")
    seed.loan(device, people[0], due=date(2026, 12, 10), place="склад")
    return device


def name(telegram_id: int) -> str:
    """How the bot names a person now (the middleware refreshes names from Telegram)."""
    return render.person_name(Person.get(Person.telegram_id == telegram_id))


def card(harness, user_id: int, device) -> object:
    """Open the card as user_id; the card message."""
    return harness.press(user_id, f"card:{device.id}").last(user_id)


def labels(call) -> list[str]:
    """Button labels of a message."""
    return [b["text"] for b in call.buttons]


def hold_message(harness, user_id: int):
    """The last hold message sent to user_id."""
    found = [c for c in harness.sender.of("sendMessage", user_id)
             if c.text.startswith(texts.HOLD_OFFER.split("{")[0])]
    assert found, f"no hold message to {user_id}: {harness.sender.texts(user_id)}"
    return found[-1]


def return_device(harness, device) -> None:
    """A returns the device through the confirmation button."""
    harness.press(A_ID, f"reto:{device.id}")


# --- joining and leaving ---------------------------------------------------------------------


def test_join_and_leave_from_the_card(harness, device, people):
    call = card(harness, B_ID, device)
    assert call.button(texts.BTN_JOIN_QUEUE)["callback_data"] == f"qj:{device.id}"
    assert texts.BTN_TAKE not in labels(call)
    call = harness.press(B_ID, f"qj:{device.id}").last(B_ID)
    assert call.method == "editMessageText"
    assert call.text.startswith(texts.JOINED.format(**NAME, position=1))
    assert texts.QUEUE_COUNT.format(count=texts.people_count(1)) in call.text
    assert texts.QUEUE_YOUR_PLACE.format(position=1, count=1) in call.text
    assert call.button(texts.BTN_LEAVE_QUEUE)["callback_data"] == f"ql:{device.id}"
    assert texts.BTN_JOIN_QUEUE not in labels(call)
    harness.press(C_ID, f"qj:{device.id}")
    call = card(harness, C_ID, device)
    assert texts.QUEUE_COUNT.format(count=texts.people_count(2)) in call.text
    assert texts.QUEUE_YOUR_PLACE.format(position=2, count=2) in call.text
    call = harness.press(B_ID, f"ql:{device.id}").last(B_ID)
    assert call.text.startswith(texts.LEFT_QUEUE.format(**NAME))
    assert texts.BTN_JOIN_QUEUE in labels(call)
    assert texts.QUEUE_YOUR_PLACE.format(position=1, count=1) in card(harness, C_ID, device).text
    assert [a.action for a in AuditLog.select().where(AuditLog.action.startswith("queue."))
            .order_by(AuditLog.id)] == ["queue.joined", "queue.joined", "queue.left"]


def test_join_refusals_each_get_a_clear_line(harness, seed, device, people):
    free = seed.device(8, "Атол")
    call = card(harness, B_ID, free)
    assert texts.BTN_JOIN_QUEUE not in labels(call) and texts.BTN_TAKE in labels(call)
    call = harness.press(B_ID, f"qj:{free.id}").last(B_ID)  # an old button
    assert call.text == texts.QUEUE_DEVICE_FREE.format(number=8, name="Атол")
    assert call.button(texts.BTN_TAKE)["callback_data"] == f"take:{free.id}"
    harness.press(B_ID, f"qj:{device.id}")
    harness.press(B_ID, f"qj:{device.id}")
    assert harness.sender.alerts()[-1] == texts.QUEUE_ALREADY.format(position=1)
    assert texts.BTN_JOIN_QUEUE not in labels(card(harness, A_ID, device))
    harness.press(A_ID, f"qj:{device.id}")
    assert harness.sender.alerts()[-1] == texts.ALREADY_YOURS
    harness.press(C_ID, f"ql:{device.id}")
    assert harness.sender.alerts()[-1] == texts.QUEUE_NOT_IN
    assert QueueEntry.select().count() == 1
    assert texts.ERROR not in harness.sender.texts()


def test_holder_is_warned_that_people_wait(harness, device, people):
    assert texts.QUEUE_HOLDER_WARNING.split("{")[0] not in card(harness, A_ID, device).text
    harness.press(B_ID, f"qj:{device.id}")
    harness.press(C_ID, f"qj:{device.id}")
    call = card(harness, A_ID, device)
    warning = texts.QUEUE_HOLDER_WARNING.format(count=texts.people_count(2))
    assert warning in call.text
    assert texts.BTN_JOIN_QUEUE not in labels(call) and texts.BTN_HANDOVER in labels(call)
    prompt = harness.press(A_ID, f"ho:{device.id}").last(A_ID)
    assert prompt.text == texts.HANDOVER_ASK.format(**NAME) + "\n\n" + warning


def test_admin_sees_the_whole_queue(harness, device, people):
    harness.press(B_ID, f"qj:{device.id}")
    harness.press(C_ID, f"qj:{device.id}")
    admin_card = card(harness, ADMIN_ID, device).text
    lines = [texts.QUEUE_ADMIN_TITLE,
             texts.QUEUE_ADMIN_LINE.format(position=1, person=name(B_ID)),
             texts.QUEUE_ADMIN_LINE.format(position=2, person=name(C_ID))]
    assert "\n".join(lines) in admin_card
    assert texts.QUEUE_ADMIN_TITLE not in card(harness, C_ID, device).text
    return_device(harness, device)
    admin_card = card(harness, ADMIN_ID, device).text
    assert texts.QUEUE_ADMIN_HOLD_LINE.format(person=name(B_ID), until=HOLD_UNTIL) in admin_card
    assert texts.QUEUE_ADMIN_LINE.format(position=1, person=name(C_ID)) in admin_card


# --- /wishlist -------------------------------------------------------------------------------


def test_wishlist_shows_position_holder_and_due_date(harness, seed, device, people):
    other = seed.device(9, "Атол 30Ф")
    seed.loan(other, people[2])
    harness.press(C_ID, f"qj:{device.id}")
    harness.press(B_ID, f"qj:{device.id}")
    harness.press(B_ID, f"qj:{other.id}")
    call = harness.send(B_ID, "/wishlist").last(B_ID)
    assert call.text.startswith(texts.WISHLIST_TITLE.format(total=2))
    holder_a = render.short_name(Person.get(Person.telegram_id == A_ID))
    holder_c = render.short_name(Person.get(Person.telegram_id == C_ID))
    assert texts.WISHLIST_LINE.format(**NAME, position=2, state=texts.LINE_HELD_UNTIL.format(
        holder=holder_a, date="10.12")) in call.text
    assert texts.WISHLIST_LINE.format(number=9, name="Атол 30Ф", position=1,
                                      state=texts.LINE_HELD.format(holder=holder_c)) in call.text
    assert call.button("№7")["callback_data"] == f"card:{device.id}"
    assert call.button("№9")["callback_data"] == f"card:{other.id}"
    return_device(harness, device)
    text = harness.send(C_ID, "/wishlist").last(C_ID).text
    assert texts.WISHLIST_LINE_HOLD.format(**NAME, until=HOLD_UNTIL) in text


def test_wishlist_is_paginated_like_all(harness, seed, people):
    a, b, _ = people
    for number in range(1, PAGE_SIZE + 4):
        device = seed.device(number, f"Устройство {number}")
        seed.loan(device, a)
        queue.join(device.id, b, T0)
    call = harness.send(B_ID, "/wishlist").last(B_ID)
    assert call.button("1/2") and call.button(texts.BTN_NEXT)["callback_data"] == "wl:2"
    call = harness.press(B_ID, "wl:2").last(B_ID)
    assert call.method == "editMessageText" and "Устройство 11" in call.text
    assert call.button(texts.BTN_PREV)["callback_data"] == "wl:1"
    harness.press(B_ID, "wl:7")
    assert harness.sender.alerts()[-1] == texts.PAGE_GONE


def test_wishlist_empty(harness, people):
    assert harness.send(B_ID, "/wishlist").last(B_ID).text == texts.WISHLIST_EMPTY


# --- holds -----------------------------------------------------------------------------------


def test_return_offers_the_hold_and_only_that_person_can_take(harness, device, people, clock):
    harness.press(B_ID, f"qj:{device.id}")
    harness.press(C_ID, f"qj:{device.id}")
    harness.sender.clear()
    return_device(harness, device)
    offer = hold_message(harness, B_ID)
    assert offer.text == texts.HOLD_OFFER.format(**NAME, until=HOLD_UNTIL)
    assert offer.button(texts.BTN_TAKE)["callback_data"] == f"take:{device.id}"
    assert offer.button(texts.BTN_DECLINE_HOLD)["callback_data"] == f"hdx:{device.id}"
    assert not harness.sender.of("sendMessage", C_ID)
    # The returner's card already shows the hold.
    state = texts.STATE_HOLD.format(person=name(B_ID), until=HOLD_UNTIL)
    assert state in harness.sender.last(A_ID).text
    call = card(harness, C_ID, device)
    assert state in call.text and texts.BTN_TAKE not in labels(call)
    harness.press(C_ID, f"take:{device.id}")
    assert harness.sender.last(C_ID).text == texts.HELD_FOR_OTHER.format(
        **NAME, person=name(B_ID), until=HOLD_UNTIL)
    call = card(harness, B_ID, device)
    assert texts.QUEUE_HOLD_YOURS in call.text and texts.BTN_TAKE in labels(call)
    # B takes through the button of the hold message: the usual take dialogue.
    harness.press(B_ID, offer.button(texts.BTN_TAKE)["callback_data"])
    assert harness.sender.last(B_ID).text == texts.ASK_PLACE.format(**NAME)
    harness.press(B_ID, "tkp:skip")
    harness.press(B_ID, "tkd:week")
    assert harness.sender.last(B_ID).text.startswith(texts.TAKEN.format(**NAME))
    loan = Loan.get(Loan.returned_at.is_null())
    assert loan.person.telegram_id == B_ID
    assert queue.position(device.id, Person.get(Person.telegram_id == C_ID).id, clock.now) == 1
    assert AuditLog.select().where(AuditLog.action == "hold.offered").count() == 1


def test_decline_passes_the_hold_to_the_next(harness, device, people):
    harness.press(B_ID, f"qj:{device.id}")
    harness.press(C_ID, f"qj:{device.id}")
    return_device(harness, device)
    harness.press(C_ID, f"hdx:{device.id}")  # not C's hold
    assert harness.sender.alerts()[-1] == texts.HOLD_GONE
    call = harness.press(B_ID, f"hdx:{device.id}").last(B_ID)
    assert call.method == "editMessageText"
    assert call.text.startswith(texts.HOLD_DECLINED.format(**NAME))
    assert hold_message(harness, C_ID).text == texts.HOLD_OFFER.format(**NAME, until=HOLD_UNTIL)
    assert texts.STATE_HOLD.format(person=name(C_ID), until=HOLD_UNTIL) in card(
        harness, A_ID, device).text
    harness.press(B_ID, f"hdx:{device.id}")  # the old button again
    assert harness.sender.alerts()[-1] == texts.HOLD_GONE
    harness.press(C_ID, f"hdx:{device.id}")
    call = card(harness, A_ID, device)
    assert texts.STATE_FREE in call.text and texts.BTN_TAKE in labels(call)
    assert not QueueEntry.select().exists()


def test_expiry_passes_the_hold_on_when_the_device_is_read(harness, device, people, clock):
    harness.press(B_ID, f"qj:{device.id}")
    harness.press(C_ID, f"qj:{device.id}")
    return_device(harness, device)
    clock.advance(hours=23)
    assert texts.STATE_HOLD.format(person=name(B_ID), until=HOLD_UNTIL) in card(
        harness, A_ID, device).text
    assert not harness.sender.of("sendMessage", C_ID)
    clock.advance(hours=2)  # 25 hours after the return: B's hold ran out
    call = card(harness, A_ID, device)
    until = "28.11.2026 13:00"  # 25 + 24 hours after T0 (09:00 UTC), in Moscow time
    assert texts.STATE_HOLD.format(person=name(C_ID), until=until) in call.text
    assert hold_message(harness, C_ID).text == texts.HOLD_OFFER.format(**NAME, until=until)
    assert harness.sender.last(B_ID).text == texts.HOLD_LAPSED.format(**NAME,
                                                                      until=HOLD_UNTIL)
    # B's old «Взять» now finds the device held for C.
    harness.press(B_ID, f"take:{device.id}")
    assert harness.sender.last(B_ID).text == texts.HELD_FOR_OTHER.format(
        **NAME, person=name(C_ID), until=until)
    clock.advance(hours=25)  # C lets it run out too: nobody left, the device is free
    sent_before = len(harness.sender.of("sendMessage"))
    call = harness.send(A_ID, "/all").last(A_ID)
    assert texts.LINE.format(**NAME, state=texts.LINE_FREE) in call.text
    # The list itself and C's notice that the hold lapsed; nobody is offered anything.
    assert len(harness.sender.of("sendMessage")) == sent_before + 2
    assert harness.sender.last(C_ID).text == texts.HOLD_LAPSED.format(**NAME, until=until)
    assert texts.STATE_FREE in card(harness, B_ID, device).text
    assert AuditLog.select().where(AuditLog.action == "hold.expired").count() == 2


def test_blocked_recipient_does_not_break_the_return(harness, device, people):
    harness.press(B_ID, f"qj:{device.id}")
    harness.sender.clear()
    # The return's only sendMessage is the hold message to B: it meets a blocked bot.
    harness.sender.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    return_device(harness, device)
    assert [int(c.params["chat_id"]) for c in harness.sender.of("sendMessage")] == [B_ID]
    assert Loan.get().returned_at is not None
    assert Person.get(Person.telegram_id == B_ID).reachable is False
    assert harness.sender.last(A_ID).text.startswith(texts.RETURNED.format(**NAME))
    assert texts.ERROR not in harness.sender.texts() and texts.ERROR_SHORT not in (
        harness.sender.alerts())
    # The hold stands: B can still see and take it from the card.
    assert queue.queue_of(device.id, T0).hold.person.telegram_id == B_ID


def test_full_flow_take_join_return_hold_take(harness, seed, people):
    device = seed.device(7, "Эвотор 7.2")
    harness.press(A_ID, f"take:{device.id}")
    harness.send(A_ID, "офис")
    harness.press(A_ID, "tkd:week")
    call = card(harness, B_ID, device)
    harness.press(B_ID, call.button(texts.BTN_JOIN_QUEUE)["callback_data"])
    call = card(harness, A_ID, device)
    harness.press(A_ID, call.button(texts.BTN_RETURN)["callback_data"])
    harness.press(A_ID, harness.sender.last(A_ID).button(texts.BTN_YES_RETURNED)["callback_data"])
    offer = hold_message(harness, B_ID)
    harness.press(B_ID, offer.button(texts.BTN_TAKE)["callback_data"])
    harness.press(B_ID, "tkp:skip")
    harness.press(B_ID, "tkd:tomorrow")
    loan = Loan.get(Loan.returned_at.is_null())
    assert (loan.person.telegram_id, loan.due_date) == (B_ID, TODAY + timedelta(days=1))
    assert not QueueEntry.select().exists()


# --- handover --------------------------------------------------------------------------------


def offer_to(harness, device, typed: str):
    """A starts a handover and types the colleague."""
    harness.press(A_ID, f"ho:{device.id}")
    return harness.send(A_ID, typed)


def test_handover_accept(harness, device, people, clock):
    _, b, _ = people
    harness.press(B_ID, f"qj:{device.id}")
    offer_to(harness, device, "Boris@Company.ru")
    request = harness.sender.last(B_ID)
    assert request.text == texts.HANDOVER_REQUEST.format(**NAME, holder=name(A_ID),
                                                         due="10.12.2026")
    pending = Handover.get()
    assert request.button(texts.BTN_HANDOVER_ACCEPT)["callback_data"] == f"hoa:{pending.id}"
    assert request.button(texts.BTN_HANDOVER_DECLINE)["callback_data"] == f"hod:{pending.id}"
    holder_view = harness.sender.last(A_ID)
    assert holder_view.text.startswith(texts.HANDOVER_OFFERED.format(**NAME, person=name(B_ID)))
    assert texts.HANDOVER_PENDING_LINE.format(person=name(B_ID)) in holder_view.text
    assert holder_view.button(texts.BTN_HANDOVER_CANCEL)["callback_data"] == f"hoc:{pending.id}"
    # The colleague's card offers the same answer.
    assert texts.BTN_HANDOVER_ACCEPT in labels(card(harness, B_ID, device))
    clock.advance(hours=1)
    call = harness.press(B_ID, f"hoa:{pending.id}").last(B_ID)
    assert call.text.startswith(texts.HANDOVER_ACCEPTED_YOU.format(**NAME, due="10.12.2026"))
    assert texts.BTN_RETURN in labels(call) and texts.BTN_CHANGE_DUE in labels(call)
    assert harness.sender.last(A_ID).text == texts.HANDOVER_ACCEPTED_HOLDER.format(
        **NAME, person=name(B_ID))
    new = Loan.get(Loan.returned_at.is_null())
    assert (new.person_id, new.due_date, new.place, new.taken_at) == (
        b.id, date(2026, 12, 10), "склад", clock.now)
    assert Loan.select().count() == 2 and not QueueEntry.select().exists()
    harness.press(B_ID, f"hoa:{pending.id}")  # pressed twice
    assert harness.sender.alerts()[-1] == texts.HANDOVER_GONE
    assert [a.action for a in AuditLog.select().where(AuditLog.action.startswith("handover."))
            .order_by(AuditLog.id)] == ["handover.offered", "handover.accepted"]


def test_handover_decline_tells_the_holder(harness, device, people):
    offer_to(harness, device, "@Boris")
    pending = Handover.get()
    call = harness.press(B_ID, f"hod:{pending.id}").last(B_ID)
    assert call.method == "editMessageText" and call.text == texts.HANDOVER_DECLINED_YOU.format(
        **NAME)
    assert harness.sender.last(A_ID).text == texts.HANDOVER_DECLINED_HOLDER.format(
        **NAME, person=name(B_ID))
    assert Loan.get(Loan.returned_at.is_null()).person.telegram_id == A_ID
    assert texts.BTN_HANDOVER in labels(card(harness, A_ID, device))


def test_handover_cancel_makes_the_colleague_buttons_stale(harness, device, people):
    offer_to(harness, device, "@boris")
    pending = Handover.get()
    harness.press(B_ID, f"hoc:{pending.id}")  # only the holder may cancel
    assert harness.sender.alerts()[-1] == texts.HANDOVER_GONE
    call = harness.press(A_ID, f"hoc:{pending.id}").last(A_ID)
    assert call.text.startswith(texts.HANDOVER_CANCELLED.format(**NAME))
    assert harness.sender.last(B_ID).text == texts.HANDOVER_CANCELLED_TO.format(
        **NAME, holder=name(A_ID))
    for data in (f"hoa:{pending.id}", f"hod:{pending.id}", f"hoc:{pending.id}"):
        harness.press(B_ID if data != f"hoc:{pending.id}" else A_ID, data)
        assert harness.sender.alerts()[-1] == texts.HANDOVER_GONE
    assert Handover.get().status == handover.CANCELLED
    assert Loan.get(Loan.returned_at.is_null()).person.telegram_id == A_ID


def test_handover_finds_by_name_and_lets_pick(harness, seed, device, people):
    seed.person(400, "boris.petrov@company.ru", name="Борис Петров")
    call = offer_to(harness, device, "борис").last(A_ID)
    assert call.text == texts.HANDOVER_PICK.format(**NAME)
    assert labels(call)[:2] == [
        texts.BTN_COLLEAGUE.format(name="Борис Ким", email="boris@company.ru"),
        texts.BTN_COLLEAGUE.format(name="Борис Петров", email="boris.petrov@company.ru")]
    petrov = Person.get(Person.telegram_id == 400)
    harness.press(A_ID, call.button("Петров")["callback_data"])
    assert Handover.get().to_person_id == petrov.id
    assert harness.sender.last(400).text.startswith(texts.HANDOVER_REQUEST.split("{")[0])
    harness.press(A_ID, call.button("Ким")["callback_data"])  # the other choice, too late
    assert harness.sender.alerts()[-1] == texts.STALE_BUTTON
    assert Handover.select().count() == 1


def test_handover_nobody_or_yourself_is_asked_again(harness, device, people):
    call = offer_to(harness, device, "Незнакомец").last(A_ID)
    assert call.text == texts.HANDOVER_NOBODY.format(query="Незнакомец")
    assert DialogState.get(DialogState.chat_id == A_ID).state == HANDOVER_WHO
    assert harness.send(A_ID, "anna@company.ru").last(A_ID).text == texts.HANDOVER_SELF
    assert harness.send(A_ID, "<b>x</b>@").last(A_ID).text == texts.HANDOVER_NOBODY.format(
        query="&lt;b&gt;x&lt;/b&gt;@")
    assert not Handover.select().exists()
    harness.send(A_ID, "@vera")
    assert Handover.get().to_person.telegram_id == C_ID


def test_only_the_holder_can_start_a_handover(harness, device, people):
    assert texts.BTN_HANDOVER not in labels(card(harness, B_ID, device))
    harness.press(B_ID, f"ho:{device.id}")
    assert harness.sender.alerts()[-1] == texts.NOT_HOLDER


def test_second_handover_while_one_is_pending(harness, device, people):
    offer_to(harness, device, "@boris")
    pending = Handover.get()
    call = harness.press(A_ID, f"ho:{device.id}").last(A_ID)
    assert call.text == texts.HANDOVER_ALREADY_PENDING.format(**NAME, person=name(B_ID))
    assert call.button(texts.BTN_HANDOVER_CANCEL)["callback_data"] == f"hoc:{pending.id}"


def test_return_voids_a_pending_handover(harness, device, people):
    offer_to(harness, device, "@boris")
    pending = Handover.get()
    return_device(harness, device)
    assert harness.sender.last(B_ID).text == texts.HANDOVER_VOID_TO.format(**NAME)
    harness.press(B_ID, f"hoa:{pending.id}")
    assert harness.sender.alerts()[-1] == texts.HANDOVER_GONE
    assert not Loan.select().where(Loan.returned_at.is_null()).exists()


def test_handover_to_a_blocked_colleague_is_cancelled(harness, device, people):
    harness.press(A_ID, f"ho:{device.id}")
    harness.sender.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    harness.send(A_ID, "@boris")
    assert harness.sender.last(A_ID).text == texts.HANDOVER_UNDELIVERED.format(person=name(B_ID))
    assert Handover.get().status == handover.CANCELLED
    assert Person.get(Person.telegram_id == B_ID).reachable is False


@pytest.mark.parametrize("data", ["qj:x", "ql:", "hdx:999999", "wl:x", "ho:999999", "hoa:abc",
                                  "hoa:999999", "hod:1:2", "hoc:999999", "hop:1", "hop:x:y",
                                  "hop:1:2"])
def test_stale_and_forged_queue_buttons_get_an_alert(harness, device, people, data):
    sent = harness.press(B_ID, data)
    assert sent.alerts() and sent.alerts()[-1] in (texts.STALE_BUTTON, texts.DEVICE_GONE,
                                                   texts.HOLD_GONE, texts.HANDOVER_GONE)
    assert texts.ERROR not in sent.texts()


def test_a_take_finished_after_its_hold_ran_out_passes_the_hold_on_first(harness, device,
                                                                          people, clock):
    harness.press(B_ID, f"qj:{device.id}")
    harness.press(C_ID, f"qj:{device.id}")
    return_device(harness, device)
    harness.press(B_ID, f"take:{device.id}")
    harness.press(B_ID, "tkp:skip")
    clock.advance(hours=25)  # B answers the due date only after the hold ran out
    harness.press(B_ID, "tkd:week")
    until = "28.11.2026 13:00"  # 25 + 24 hours after T0 (09:00 UTC), in Moscow time
    assert harness.sender.last(B_ID).text == texts.HELD_FOR_OTHER.format(
        **NAME, person=name(C_ID), until=until)
    assert texts.HOLD_LAPSED.format(**NAME, until=HOLD_UNTIL) in harness.sender.texts(B_ID)
    assert hold_message(harness, C_ID).text == texts.HOLD_OFFER.format(**NAME, until=until)
    assert not Loan.select().where(Loan.returned_at.is_null()).exists()
    assert [e.person.telegram_id for e in queue.queue_of(device.id, clock.now).entries] == [C_ID]
    assert DialogState.get_or_none(DialogState.chat_id == B_ID) is None or (
        DialogState.get(DialogState.chat_id == B_ID).state is None)


def test_the_card_after_a_take_is_the_card_read_afresh(harness, device, people, clock):
    for user_id in (ADMIN_ID, C_ID, B_ID):
        harness.press(user_id, f"qj:{device.id}")
    return_device(harness, device)  # the admin, first in line, is offered the hold
    harness.press(ADMIN_ID, f"take:{device.id}")
    harness.press(ADMIN_ID, "tkp:skip")
    taken = harness.press(ADMIN_ID, "tkd:week").last(ADMIN_ID)
    prefix = texts.TAKEN.format(**NAME) + "\n\n"
    assert taken.text.startswith(prefix)
    assert texts.QUEUE_ADMIN_LINE.format(position=1, person=name(C_ID)) in taken.text
    assert texts.QUEUE_ADMIN_LINE.format(position=2, person=name(B_ID)) in taken.text
    afresh = card(harness, ADMIN_ID, device)
    assert (taken.text[len(prefix):], taken.markup) == (afresh.text, afresh.markup)


def test_a_take_overtaken_while_someone_waits_is_refused_with_the_holder(harness, seed, people):
    # C starts taking a free device; B takes it first and A joins its line (no hold: B has it).
    # C's last step finds a line without a hold, settling finds nothing to do, the take is
    # refused, and nothing is written.
    device = seed.device(7, "Эвотор 7.2")
    harness.press(C_ID, f"take:{device.id}")
    harness.press(C_ID, "tkp:skip")
    harness.press(B_ID, f"take:{device.id}")
    harness.press(B_ID, "tkp:skip")
    harness.press(B_ID, "tkd:week")
    harness.press(A_ID, f"qj:{device.id}")
    before = (Loan.select().count(), QueueEntry.select().count(), AuditLog.select().count())
    harness.press(C_ID, "tkd:week")
    assert harness.sender.last(C_ID).text == texts.TAKEN_BY_OTHER.format(**NAME,
                                                                       holder=name(B_ID))
    assert (Loan.select().count(), QueueEntry.select().count(),
            AuditLog.select().count()) == before
    assert [e.person.telegram_id for e in queue.queue_of(device.id, T0).entries] == [A_ID]
    assert not harness.sender.of("sendMessage", A_ID)  # nobody is offered a hold


def tell_holds_due(monkeypatch, due: bool) -> list[bool | None]:
    """Every update is told whether a hold is due (as if another process changed the queue
    just after its first statement); the list receives what the statement really answered."""
    from handlers import middleware

    current = middleware.people.with_dialog
    real = getattr(current, "__wrapped__", current)  # told again: wrap the real one
    seen: list[bool | None] = []

    def with_dialog(*args):
        person, stored, actual = real(*args)
        seen.append(actual)
        return person, stored, due

    with_dialog.__wrapped__ = real  # type: ignore[attr-defined]
    monkeypatch.setattr(middleware.people, "with_dialog", with_dialog)
    return seen


def test_a_take_goes_by_its_lock_when_the_update_saw_no_hold_due(harness, device, people,
                                                                   clock, monkeypatch):
    # Every screen at the start of an update trusts «nothing due», the take's lock does not.
    tell_holds_due(monkeypatch, False)
    harness.press(B_ID, f"qj:{device.id}")
    harness.press(C_ID, f"qj:{device.id}")
    return_device(harness, device)  # B is offered the hold
    clock.advance(hours=25)  # and lets it run out
    harness.press(B_ID, f"take:{device.id}")  # not settled at the start: B still holds it
    harness.press(B_ID, "tkp:skip")
    harness.press(B_ID, "tkd:week")
    until = "28.11.2026 13:00"  # 25 + 24 hours after T0 (09:00 UTC), in Moscow time
    assert harness.sender.last(B_ID).text == texts.HELD_FOR_OTHER.format(
        **NAME, person=name(C_ID), until=until)
    assert hold_message(harness, C_ID).text == texts.HOLD_OFFER.format(**NAME, until=until)
    assert not Loan.select().where(Loan.returned_at.is_null()).exists()


def test_a_screen_settles_only_what_the_update_saw_due(harness, device, people, clock,
                                                       monkeypatch):
    # The lists and the card go by the update's first statement: told nothing is due, they
    # leave a run-out hold for the next update; told it is, they pass it on.
    harness.press(B_ID, f"qj:{device.id}")
    return_device(harness, device)
    clock.advance(hours=25)  # B's hold ran out
    seen = tell_holds_due(monkeypatch, False)
    for step in (lambda: harness.send(A_ID, "/all"), lambda: card(harness, A_ID, device),
                 lambda: harness.send(A_ID, "/wishlist"), lambda: harness.send(A_ID, "Эвотор")):
        step()
    assert seen == [True] * 4
    assert [e.person.telegram_id for e in QueueEntry.select()] == [B_ID]
    again = tell_holds_due(monkeypatch, True)
    harness.send(A_ID, "/all")
    assert again == [True]  # what the statement answered, not what the first teller said
    assert not QueueEntry.select().exists()
    assert harness.sender.last(B_ID).text == texts.HOLD_LAPSED.format(**NAME,
                                                                      until=HOLD_UNTIL)
