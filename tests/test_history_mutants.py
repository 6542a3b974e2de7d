"""inventory/history.py against mutants: one device's or one person's loans, newest first, paged.

Several devices, people and loans each, so a lost filter, a flipped order or a wrong page
boundary shows (see docs/mutation.md).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from inventory import history, loans
from inventory.history import PAGE_SIZE
from models import Loan

pytestmark = pytest.mark.usefixtures("backend")


def lend(device, person, clock, place: str, *, admin=None) -> int:
    """A loan taken now and returned an hour later (the clock moves a day); its id."""
    loan = loans.take(device.id, person, now=clock.now, place=place, assigned_by=admin)
    clock.advance(hours=1)
    loans.return_device(device.id, person, now=clock.now)
    clock.advance(hours=23)
    return loan.id


def places(page: history.HistoryPage) -> list[str]:
    """The places of a page's loans, in the page's order."""
    return [loan.place for loan in page.loans]


def test_device_history_lists_that_devices_loans_only_newest_first(seed, clock):
    d1, d2 = seed.device(1), seed.device(2)
    ann, bob = seed.person(11, name="Анна"), seed.person(12, name="Борис")
    admin = seed.person(13, name="Админ")
    lend(d1, ann, clock, "a1")
    lend(d2, ann, clock, "a2")
    lend(d1, bob, clock, "b1", admin=admin)
    lend(d2, bob, clock, "b2")
    lend(d1, ann, clock, "a1-again")
    page = history.history(1, device_id=d1.id)
    assert (places(page), page.page, page.pages, page.total) == (
        ["a1-again", "b1", "a1"], 1, 1, 3)
    assert [loan.person.name for loan in page.loans] == ["Анна", "Борис", "Анна"]
    assert {loan.device.number for loan in page.loans} == {1}
    assert [history.assigner(loan) and history.assigner(loan).name for loan in page.loans] == [
        None, "Админ", None]
    assert page.loans[1].assigned_by.name == "Админ"
    theirs = history.history(1, device_id=d2.id)
    assert (places(theirs), theirs.total) == (["b2", "a2"], 2)


def test_person_history_lists_that_persons_loans_only_newest_first(seed, clock):
    d1, d2, d3 = seed.device(1), seed.device(2), seed.device(3)
    ann, bob = seed.person(11), seed.person(12)
    lend(d1, ann, clock, "a1")
    lend(d2, bob, clock, "b2")
    lend(d3, ann, clock, "a3")
    lend(d1, bob, clock, "b1")
    lend(d2, ann, clock, "a2")
    page = history.history(1, person_id=ann.id)
    assert (places(page), page.pages, page.total) == (["a2", "a3", "a1"], 1, 3)
    assert [loan.device.number for loan in page.loans] == [2, 3, 1]
    assert places(history.history(1, person_id=bob.id)) == ["b1", "b2"]
    query = history.history_query(person_id=bob.id, device_id=d2.id)
    assert [loan.place for loan in query] == ["b2"]
    assert [loan.place for loan in history.history_query()] == ["a2", "b1", "a3", "b2", "a1"]


def test_loans_taken_at_one_time_go_newest_id_first(seed, clock):
    device, other = seed.device(1), seed.device(2)
    person = seed.person(11)
    first = loans.take(device.id, person, now=clock.now, place="first")
    loans.return_device(device.id, person, now=clock.now)
    second = loans.take(device.id, person, now=clock.now, place="second")
    loans.take(other.id, person, now=clock.now, place="other")
    assert first.id < second.id
    assert places(history.history(1, device_id=device.id)) == ["second", "first"]
    assert places(history.history(1, person_id=person.id)) == ["other", "second", "first"]


def test_pages_of_eight_clamped_to_the_range(seed, clock):
    device, other = seed.device(1), seed.device(2)
    person = seed.person(11)
    for n in range(PAGE_SIZE + 1):
        lend(device, person, clock, str(n))
    lend(other, person, clock, "other")
    first = history.history(1, device_id=device.id)
    assert (len(first.loans), first.page, first.pages, first.total) == (PAGE_SIZE, 1, 2, 9)
    assert places(first) == [str(n) for n in range(PAGE_SIZE, 0, -1)]
    for asked in (2, 3, 100):
        last = history.history(asked, device_id=device.id)
        assert (places(last), last.page, last.pages) == (["0"], 2, 2)
    for asked in (0, -5):
        assert history.history(asked, device_id=device.id).page == 1
    # Exactly eight loans make one page.
    lend(other, person, clock, "o2")
    for n in range(PAGE_SIZE - 2):
        lend(other, person, clock, f"o{n + 3}")
    full = history.history(1, device_id=other.id)
    assert (len(full.loans), full.pages, full.total) == (PAGE_SIZE, 1, PAGE_SIZE)
    assert history.history(2, device_id=other.id).page == 1


def test_an_empty_history_is_one_empty_page(seed, clock):
    device, other = seed.device(1), seed.device(2)
    person, idle = seed.person(11), seed.person(12)
    lend(other, person, clock, "x")
    for page in (history.history(1, device_id=device.id), history.history(3, person_id=idle.id)):
        assert (page.loans, page.page, page.pages, page.total) == ([], 1, 1, 0)


def test_exactly_one_of_device_and_person(seed):
    device, person = seed.device(1), seed.person(11)
    with pytest.raises(ValueError, match="exactly one"):
        history.history(1)
    with pytest.raises(ValueError, match="exactly one"):
        history.history(1, device_id=device.id, person_id=person.id)


def test_newest_first_by_taking_time_not_by_row_order(seed, clock):
    device, person = seed.device(1), seed.person(11)
    later = loans.take(device.id, person, now=clock.now, place="later")
    loans.return_device(device.id, person, now=clock.now + timedelta(hours=1))
    # Recorded afterwards (an import) but taken a week earlier.
    Loan.create(device=device, person=person, place="earlier",
                taken_at=clock.now - timedelta(days=7), returned_at=clock.now - timedelta(days=6))
    assert later.id < Loan.get(Loan.place == "earlier").id
    assert places(history.history(1, device_id=device.id)) == ["later", "earlier"]


def test_a_history_page_is_two_queries_with_holder_device_and_assigner(seed, clock):
    """Holder, device and assigner come with the page (no query per row), each the right one:
    the assigner is joined through `assigned_by`, not through the holder's key."""
    from conftest import count_queries

    d1 = seed.device(1)
    ann, bob, admin = (seed.person(11, name="Анна"), seed.person(12, name="Борис"),
                       seed.person(13, name="Админ"))
    lend(d1, ann, clock, "a1")
    lend(d1, bob, clock, "b1", admin=admin)
    lend(d1, ann, clock, "a2", admin=bob)

    def read() -> list[tuple]:
        page = history.history(1, device_id=d1.id)
        assigners = [history.assigner(loan) for loan in page.loans]
        return [(loan.place, loan.person.name, loan.device.number,
                 who.name if who is not None else None)
                for loan, who in zip(page.loans, assigners, strict=True)]

    rows, statements = count_queries(read)
    assert rows == [("a2", "Анна", 1, "Борис"), ("b1", "Борис", 1, "Админ"),
                    ("a1", "Анна", 1, None)]
    assert statements == 2
