"""Orderings and counts the README and the texts promise, and the take refused by a fresh hold."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from conftest import ADMIN_ID, USER_ID

from handlers import render, texts
from inventory import loans, queue, reminders
from inventory.clock import local_time
from inventory.devices import PAGE_SIZE
from models import Loan, QueueEntry
from notices import reminders as reminder_texts

TODAY = date(2026, 11, 26)
OTHER_ID = 101
THIRD_ID = 102


def numbers_in_order(text: str, names: dict[int, str]) -> list[int]:
    """Device numbers in the order their (unique) names appear in text."""
    found = sorted((text.index(name), number) for number, name in names.items() if name in text)
    return [number for _, number in found]


# --- /mine: soonest due first ----------------------------------------------------------------

# number -> due date (None: no due date); listed here neither by number nor by date.
HELD = {3: date(2026, 12, 10), 5: None, 7: date(2026, 11, 20), 9: date(2026, 12, 1),
        11: date(2026, 12, 1), 2: date(2026, 11, 24), 4: None}
SOONEST_FIRST = [7, 2, 9, 11, 3, 4, 5]


@pytest.fixture
def holder(backend, seed):
    """A person holding HELD (taken in a shuffled order) and a colleague holding one more."""
    person = seed.person(USER_ID, name="Иван Петров")
    other = seed.person(OTHER_ID, name="Ольга")
    order = list(HELD)
    random.Random(12).shuffle(order)
    for number in order:
        seed.loan(seed.device(number, f"Прибор-{number}-"), person, due=HELD[number])
    seed.loan(seed.device(1, "Прибор-1-"), other, due=date(2026, 11, 1))
    return person


def test_held_by_is_soonest_due_first_then_by_number(holder):
    assert [loan.device.number for loan in loans.held_by(holder)] == SOONEST_FIRST


def test_mine_lists_soonest_due_first(holder, harness):
    text = harness.send(USER_ID, "/mine").last(USER_ID).text
    names = {n: f"Прибор-{n}-" for n in [*HELD, 1]}
    assert numbers_in_order(text, names) == SOONEST_FIRST


# --- the admin digest: most days overdue first -----------------------------------------------


def test_overdue_loans_most_overdue_first(holder):
    overdue = reminders.overdue_loans(TODAY)
    assert [loan.device.number for loan in overdue] == [1, 7, 2]


def test_digest_lines_are_sorted_by_days_overdue(holder):
    overdue = reminders.overdue_loans(TODAY)
    random.Random(3).shuffle(overdue)
    (text,) = reminder_texts.digest_messages(overdue, [], TODAY)
    names = {n: f"Прибор-{n}-" for n in (1, 2, 7)}
    assert numbers_in_order(text, names) == [1, 7, 2]
    expected_days = [texts.days((TODAY - HELD.get(n, date(2026, 11, 1))).days) for n in (1, 7, 2)]
    positions = [text.index(days) for days in expected_days]
    assert positions == sorted(positions)


# --- /wishlist: pages ------------------------------------------------------------------------


@pytest.mark.parametrize("count, pages", [(1, 1), (PAGE_SIZE, 1), (PAGE_SIZE + 1, 2),
                                          (2 * PAGE_SIZE, 2), (2 * PAGE_SIZE + 1, 3)])
def test_wishlist_page_count(backend, seed, clock, count, pages):
    person = seed.person(USER_ID)
    other = seed.person(OTHER_ID)
    for number in range(1, count + 1):
        device = seed.device(number)
        seed.loan(device, other)
        queue.join(device.id, person, clock.now)
    page = queue.wishlist(person, 1, clock.now)
    assert (page.total, page.pages, len(page.rows)) == (count, pages, min(count, PAGE_SIZE))
    last = queue.wishlist(person, 99, clock.now)  # a page past the end shows the last one
    assert last.page == pages
    assert len(last.rows) == count - (pages - 1) * PAGE_SIZE
    assert [r.device.number for r in last.rows] == list(range((pages - 1) * PAGE_SIZE + 1,
                                                              count + 1))


def test_wishlist_counts_only_the_persons_entries(backend, seed, clock):
    person, other = seed.person(USER_ID), seed.person(OTHER_ID)
    holder = seed.person(THIRD_ID)
    for number in range(1, PAGE_SIZE + 2):
        device = seed.device(number)
        seed.loan(device, holder)
        queue.join(device.id, other, clock.now)
        if number == 1:
            queue.join(device.id, person, clock.now)
    page = queue.wishlist(person, 1, clock.now)
    assert (page.total, page.pages) == (1, 1)


# --- take refused because the device was held for the queue meanwhile -----------------------


def test_take_finished_after_a_hold_was_given_to_the_queue(harness, seed, clock):
    user = seed.person(USER_ID, name="Иван Петров")
    first = seed.person(OTHER_ID, name="Ольга Смирнова", username="olga")
    admin = seed.person(ADMIN_ID, name="Админ")
    device = seed.device(49)
    harness.press(USER_ID, f"take:{device.id}")
    harness.press(USER_ID, "tkp:skip")
    # Meanwhile an admin gives it to someone, Ольга queues, it comes back and is held for her.
    loans.take(device.id, admin, now=clock.now, assigned_by=admin)
    queue.join(device.id, first, clock.now)
    loans.return_device(device.id, admin, now=clock.now)
    offer = queue.start_hold(device.id, clock.now)
    assert offer.person.id == first.id
    sent = harness.press(USER_ID, "tkd:week")
    until = texts.fmt_time(local_time(offer.until, harness.bot.config))
    assert sent.last(USER_ID).text == texts.HELD_FOR_OTHER.format(
        number=49, name="Эвотор 7.2", until=until, person=render.person_name(first))
    assert not Loan.select().where(Loan.returned_at.is_null()).exists()
    assert QueueEntry.get().hold_until == offer.until
    assert user.id not in {e.person_id for e in QueueEntry.select()}


def test_the_hold_holder_may_take_it(backend, seed, clock):
    first, other = seed.person(USER_ID), seed.person(OTHER_ID)
    device = seed.device(49)
    seed.loan(device, other)
    queue.join(device.id, first, clock.now)
    loans.return_device(device.id, other, now=clock.now)
    queue.start_hold(device.id, clock.now)
    clock.advance(hours=1)
    loan = loans.take(device.id, first, now=clock.now, due_date=TODAY + timedelta(days=7))
    assert loans.open_loan(device.id).id == loan.id
    assert QueueEntry.select().count() == 0
