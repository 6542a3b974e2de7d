"""inventory/people.py, admin_people.py, audit.py and mailer.py against mutants.

Every test works on several people, devices and queue entries, so a dropped or weakened WHERE
clause, a flipped comparison, a lost permission check or a changed order shows in rows the test
names as untouched (see docs/mutation.md).
"""

from __future__ import annotations

import json
import smtplib
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from conftest import T0, count_queries
from test_write_filters import changed, snapshot

from config import SmtpSettings
from inventory import admin_people, audit, handover, loans, mailer, people, queue
from inventory.errors import (
    AlreadyTaken,
    Conflict,
    DomainNotAllowed,
    EmailTaken,
    InvalidEmail,
    InvalidValue,
    NotAllowed,
    NotFound,
    RegistrationRefused,
)
from models import AuditLog, DialogState, Loan, Person, QueueEntry

pytestmark = pytest.mark.usefixtures("backend")


def audits(action: str) -> list[AuditLog]:
    """The audit rows of one action, oldest first."""
    return list(AuditLog.select().where(AuditLog.action == action).order_by(AuditLog.id))


def details(row: AuditLog) -> dict[str, Any]:
    """An audit row's details."""
    return json.loads(row.details)


def delete(person: Person, when: datetime) -> None:
    """Mark a person deleted, as an admin's deletion would."""
    Person.update(deleted_at=when).where(Person.id == person.id).execute()


# --- people.py: emails --------------------------------------------------------------------------


def test_normalize_email_trims_lowers_and_drops_mailto():
    assert people.normalize_email("  Ivan.Petrov@Company.RU \n") == "ivan.petrov@company.ru"
    assert people.normalize_email("mailto:a@company.ru") == "a@company.ru"
    assert people.normalize_email("MAILTO:A@Company.ru") == "a@company.ru"
    assert people.normalize_email("o'neil+x@mail.company.ru") == "o'neil+x@mail.company.ru"


@pytest.mark.parametrize("text", ["", "ivan", "ivan@", "@company.ru", "ivan@company",
                                  "ivan@-company.ru", "ivan@company-.ru", "iv an@company.ru",
                                  "mailto:", "ivan@company.ru."])
def test_normalize_email_refuses_what_is_not_an_email(text):
    with pytest.raises(InvalidEmail) as err:
        people.normalize_email(text)
    assert err.value.details == {"text": text}


def test_an_email_may_have_254_characters_not_255():
    local = "a" * 64
    domain = ".".join(["b" * 60] * 3) + ".ru"  # 185 characters
    fits = f"{local}@{domain}"[:250] + ".ru"
    fits = "x" * (254 - len(fits)) + fits
    assert len(fits) == 254
    assert people.normalize_email(fits) == fits
    assert people.normalize_email(f"mailto:{fits}") == fits
    with pytest.raises(InvalidEmail):
        people.normalize_email("y" + fits)


def test_check_domain_allows_listed_domains_or_any_when_none_are_listed():
    people.check_domain("a@company.ru", [])
    people.check_domain("a@company.ru", ["other.ru", "company.ru"])
    with pytest.raises(DomainNotAllowed) as err:
        people.check_domain("a@sub.company.ru", iter(["company.ru", "other.ru"]))
    assert err.value.details == {"email": "a@sub.company.ru", "domains": ("company.ru", "other.ru")}
    with pytest.raises(DomainNotAllowed):
        people.check_domain("company.ru@evil.ru", ["company.ru"])
    assert admin_people.clean_email(" A@Company.RU ", ["company.ru"]) == "a@company.ru"
    assert admin_people.clean_email("a@evil.ru") == "a@evil.ru"
    with pytest.raises(DomainNotAllowed):
        admin_people.clean_email("a@evil.ru", ["company.ru"])


# --- people.py: lookups -------------------------------------------------------------------------


def test_lookups_find_that_active_person_only(seed, clock):
    ann = seed.person(1, "ann@company.ru", username="Ann_K")
    bob = seed.person(2, "bob@company.ru", username="bob")
    gone = seed.person(3, "gone@company.ru", username="gone")
    known = seed.person(None, "known@company.ru")
    delete(gone, clock.now)
    assert people.by_telegram_id(1).id == ann.id
    assert people.by_telegram_id(2).id == bob.id
    assert people.by_telegram_id(3) is None
    assert people.by_telegram_id(4) is None
    assert people.deleted_account(3) is True
    assert people.deleted_account(1) is False
    assert people.deleted_account(4) is False
    assert people.by_email("bob@company.ru").id == bob.id
    assert people.by_email("gone@company.ru").id == gone.id
    assert people.by_email("nobody@company.ru") is None
    assert people.by_username("ann_k").id == ann.id
    assert people.by_username("BOB").id == bob.id
    assert people.by_username("an") is None
    assert people.active(bob.id).id == bob.id
    assert people.active(known.id).id == known.id
    assert people.active(gone.id) is None
    assert people.registered(bob.id).id == bob.id
    assert people.registered(known.id) is None
    assert people.registered(gone.id) is None


def test_with_dialog_is_the_active_person_and_that_chats_dialogue(seed, clock):
    ann = seed.person(1)
    seed.person(2)
    gone = seed.person(3)
    delete(gone, clock.now)
    DialogState.create(chat_id=2, state="bob.state")
    mine = DialogState.create(chat_id=1, state="ann.state")
    DialogState.create(chat_id=3, state="gone.state")
    DialogState.create(chat_id=9, state="stranger.state")
    person, stored, due = people.with_dialog(1, 1, clock.now)
    assert (person.id, stored.id, stored.state, due) == (ann.id, mine.id, "ann.state", False)
    person, stored, _ = people.with_dialog(2, 5, clock.now)  # no dialogue in that chat
    assert person.telegram_id == 2 and stored is None
    person, stored, due = people.with_dialog(3, 3, clock.now)  # deleted: a stranger
    assert person is None and stored.state == "gone.state" and due is None
    person, stored, due = people.with_dialog(9, 9, clock.now)
    assert person is None and stored.state == "stranger.state" and due is None
    assert people.with_dialog(8, 8, clock.now) == (None, None, None)


def test_with_dialog_tells_whether_any_hold_is_due(seed, clock):
    """Due: a hold ran out, or a free device has a line and no live hold; not due: the line
    waits behind a loan or a live hold (queue.holds_due, asked with the person)."""
    ann, bob = seed.person(1), seed.person(2)
    held, free = seed.device(1), seed.device(2)
    seed.loan(held, bob)
    QueueEntry.create(device=held, person=ann, joined_at=clock.now)  # behind a loan
    live = QueueEntry.create(device=free, person=ann, joined_at=clock.now,
                             hold_until=clock.now + timedelta(hours=1))
    QueueEntry.create(device=free, person=bob, joined_at=clock.now)  # behind a live hold
    seed.device(3)  # no line at all
    assert people.with_dialog(1, 1, clock.now)[2] is False
    # The hold runs out at its own moment, not a microsecond before.
    assert people.with_dialog(1, 1, live.hold_until - timedelta(microseconds=1))[2] is False
    assert people.with_dialog(1, 1, live.hold_until)[2] is True
    live.delete_instance()  # free, a line, no hold: due until someone is offered it
    assert people.with_dialog(2, 2, clock.now)[2] is True
    Loan.update(returned_at=clock.now).execute()
    QueueEntry.delete().where(QueueEntry.device == free.id).execute()
    assert people.with_dialog(2, 2, clock.now)[2] is True  # the returned device's line
    QueueEntry.delete().execute()
    assert people.with_dialog(2, 2, clock.now)[2] is False


def test_refresh_profile_writes_that_person_on_any_change_only(seed, clock):
    ann = seed.person(1, name="Анна", username="ann")
    bob = seed.person(2, name="Борис", username="bob")
    before = snapshot()
    people.refresh_profile(ann, name="Анна", username="ann")
    assert changed(before) == {}
    people.refresh_profile(ann, name="Анна К", username="ann")
    assert (Person.get_by_id(ann.id).name, ann.name) == ("Анна К", "Анна К")
    people.refresh_profile(ann, name="Анна К", username="annk")
    assert (Person.get_by_id(ann.id).username, ann.username) == ("annk", "annk")
    assert changed(before) == {"Person": {ann.id}}
    assert Person.get_by_id(bob.id).name == "Борис"


def test_set_reachable_changes_that_person_only(seed):
    ann, bob, eve = seed.person(1), seed.person(2), seed.person(3)
    people.set_reachable(bob, False)
    assert [p.reachable for p in Person.select().order_by(Person.id)] == [True, False, True]
    assert bob.reachable is False
    people.set_reachable(bob, True)
    assert bob.reachable is True and Person.get_by_id(bob.id).reachable is True
    assert ann.reachable and eve.reachable


# --- people.py: registration --------------------------------------------------------------------


def register(telegram_id: int, email: str, clock, name: str = "Новый", username: str = "new",
             domains: tuple[str, ...] = ()) -> Person:
    """people.register with the test clock."""
    return people.register(telegram_id, email, name=name, username=username, domains=domains,
                           now=clock.now)


def test_register_creates_a_person_stamped_and_audited(seed, clock):
    other = seed.person(1, "other@company.ru")
    person = register(5, " New@Company.RU ", clock, name="Нина", username="nina",
                      domains=("company.ru",))
    row = Person.get_by_id(person.id)
    assert (row.telegram_id, row.email, row.name, row.username) == (
        5, "new@company.ru", "Нина", "nina")
    assert row.created_at == clock.now and row.updated_at == clock.now
    [entry] = audits("person.registered")
    assert (entry.actor_id, entry.person_id, entry.actor_telegram_id, entry.created_at) == (
        person.id, person.id, 5, clock.now)
    assert details(entry) == {"person_email": "new@company.ru"}
    assert Person.get_by_id(other.id).telegram_id == 1
    with pytest.raises(DomainNotAllowed):
        register(6, "x@evil.ru", clock, domains=("company.ru",))
    with pytest.raises(InvalidEmail):
        register(6, "not an email", clock)
    assert people.by_telegram_id(6) is None


def test_register_links_an_import_only_person(seed, clock):
    known = seed.person(None, "known@company.ru", name="Из импорта")
    Person.update(reachable=False).where(Person.id == known.id).execute()
    other = seed.person(None, "other@company.ru", name="Другой")
    before = snapshot()
    person = register(7, "KNOWN@company.ru", clock, name="", username="kn")
    assert person.id == known.id
    row = Person.get_by_id(known.id)
    assert (row.telegram_id, row.name, row.username, row.reachable) == (
        7, "Из импорта", "kn", True)
    assert changed(before) == {"Person": {known.id}}
    assert audits("person.linked")[0].person_id == known.id
    assert audits("person.registered") == []
    # A name from Telegram replaces the imported one; registering again is allowed.
    again = register(8, "other@company.ru", clock, name="Ольга", username="")
    assert (again.id, Person.get_by_id(other.id).name) == (other.id, "Ольга")
    assert register(7, "known@company.ru", clock, name="Кира").name == "Кира"


def test_register_under_another_email_unlinks_only_that_account(seed, clock):
    old = seed.person(1, "old@company.ru")
    bob = seed.person(2, "bob@company.ru")
    keep = seed.person(3, "same@company.ru")
    person = register(1, "new@company.ru", clock)
    assert Person.get_by_id(old.id).telegram_id is None
    assert Person.get_by_id(bob.id).telegram_id == 2
    assert person.telegram_id == 1 and person.id not in (old.id, bob.id)
    # Registering again under one's own email keeps the record.
    assert register(3, "same@company.ru", clock).id == keep.id
    assert Person.get_by_id(keep.id).telegram_id == 3


def test_register_refuses_taken_and_deleted_emails_and_accounts(seed, clock):
    seed.person(1, "taken@company.ru")
    gone = seed.person(2, "gone@company.ru")
    delete(gone, clock.now)
    known_gone = seed.person(None, "known.gone@company.ru")
    delete(known_gone, clock.now)
    with pytest.raises(EmailTaken) as err:
        register(5, "taken@company.ru", clock)
    assert err.value.details == {"email": "taken@company.ru"}
    with pytest.raises(RegistrationRefused) as refused:
        register(5, "gone@company.ru", clock)
    assert refused.value.details == {"email": "gone@company.ru"}
    with pytest.raises(RegistrationRefused):
        register(5, "known.gone@company.ru", clock)
    with pytest.raises(RegistrationRefused):
        register(2, "fresh@company.ru", clock)  # the deleted person's own account
    assert Person.select().count() == 3
    assert AuditLog.select().count() == 0
    assert register(5, "fresh@company.ru", clock).email == "fresh@company.ru"


# --- admin_people.py: person by email, lookups ----------------------------------------------------


def test_person_for_email_creates_restores_or_finds(seed, clock):
    admin = seed.person(1, "admin@company.ru")
    gone = seed.person(2, "gone@company.ru")
    also_gone = seed.person(3, "also.gone@company.ru")
    for person in (gone, also_gone):
        delete(person, clock.now - timedelta(days=1))
    before = snapshot()
    restored = admin_people.person_for_email(" Gone@Company.ru", actor=admin, now=clock.now)
    assert restored.id == gone.id and restored.deleted_at is None
    assert changed(before) == {"Person": {gone.id}}
    assert (Person.get_by_id(gone.id).deleted_at, Person.get_by_id(gone.id).updated_at) == (
        None, clock.now)
    assert Person.get_by_id(also_gone.id).deleted_at is not None
    [entry] = audits("person.restored")
    assert (entry.person_id, entry.actor_id) == (gone.id, admin.id)
    found = admin_people.person_for_email("admin@company.ru", actor=admin, now=clock.now)
    assert found.id == admin.id
    created = admin_people.person_for_email("New@company.ru", actor=admin, now=clock.now)
    row = Person.get_by_id(created.id)
    assert (row.email, row.telegram_id, row.created_at, row.updated_at) == (
        "new@company.ru", None, clock.now, clock.now)
    [made] = audits("person.created")
    assert (made.person_id, made.actor_id) == (created.id, admin.id)
    assert len(audits("person.restored")) == 1


def test_get_person_and_assignee(seed, clock):
    ann = seed.person(1)
    gone = seed.person(2)
    delete(gone, clock.now)
    assert admin_people.get_person(ann.id).id == ann.id
    with pytest.raises(NotFound) as err:
        admin_people.get_person(gone.id)
    assert err.value.details == {"person_id": gone.id}
    assert admin_people.assignee(ann.id, "x@company.ru").id == ann.id
    nobody = admin_people.assignee(None, "x@company.ru")
    assert (nobody.id, nobody.email) == (None, "x@company.ru")
    assert admin_people.assignee(0, "y@company.ru").email == "y@company.ru"


# --- admin_people.py: search ----------------------------------------------------------------------


def test_search_orders_an_exact_email_first_then_by_name_then_id(seed, clock):
    seed.person(1, "zed@company.ru", name="Яков")
    boris = seed.person(2, "boris@company.ru", name="Борис")
    seed.person(3, "ann@company.ru", name="анна")
    seed.person(4, "nameless@company.ru", name="")
    seed.person(5, "boris2@company.ru", name="Борис")
    gone = seed.person(6, "gone@company.ru", name="Аарон")
    delete(gone, clock.now)
    page = admin_people.search("")
    # No name: sorted by the email, and Latin letters come before Cyrillic ones.
    assert [p.email for p in page.people] == [
        "nameless@company.ru", "ann@company.ru", "boris@company.ru", "boris2@company.ru",
        "zed@company.ru"]
    assert (page.page, page.pages, page.total) == (1, 1, 5)
    exact = admin_people.search("Boris2@company.ru")
    assert [p.email for p in exact.people] == ["boris2@company.ru"]
    both = admin_people.search("boris")
    assert [p.id for p in both.people] == [boris.id, boris.id + 3]
    first = admin_people.search("boris@company.ru")
    assert [p.email for p in first.people] == ["boris@company.ru"]


def test_an_exact_email_comes_before_names_that_sort_earlier(seed):
    seed.person(1, "a.ivan@company.ru", name="Аня")
    seed.person(2, "ivan@company.ru", name="Ян")
    assert [p.email for p in admin_people.search("ivan@company.ru").people] == [
        "ivan@company.ru", "a.ivan@company.ru"]


def test_search_matches_email_name_or_username(seed):
    seed.person(1, "one@company.ru", name="Пётр Ёлкин", username="Petr_E")
    seed.person(2, "two@company.ru", name="Анна", username="")
    seed.person(3, "petr.x@company.ru", name="Вера", username="vera")
    seed.person(4, "four@company.ru", name="Глеб", username="gleb_petr")

    def emails(query: str) -> list[str]:
        return sorted(p.email for p in admin_people.search(query).people)

    assert emails("ёлкин") == ["one@company.ru"]
    assert emails("ЕЛКИН") == ["one@company.ru"]
    assert emails("petr") == ["four@company.ru", "one@company.ru", "petr.x@company.ru"]
    assert emails("@petr") == ["one@company.ru"]
    assert emails("@company") == ["four@company.ru", "one@company.ru", "petr.x@company.ru",
                                  "two@company.ru"]
    assert emails("@PETR_E") == ["one@company.ru"]
    assert emails("@gleb") == ["four@company.ru"]
    assert emails("two") == ["two@company.ru"]
    assert emails("@two") == []
    assert emails("ann") == []
    assert emails("нет такого") == []


def test_search_pages_of_eight_clamped(seed):
    for n in range(admin_people.PAGE_SIZE * 2 + 1):
        seed.person(n + 1, f"p{n:02d}@company.ru", name="")
    first = admin_people.search("", 1)
    assert [p.email for p in first.people] == [f"p{n:02d}@company.ru" for n in range(8)]
    assert (first.page, first.pages, first.total) == (1, 3, 17)
    second = admin_people.search("", 2)
    assert [p.email for p in second.people] == [f"p{n:02d}@company.ru" for n in range(8, 16)]
    for asked in (3, 4, 99):
        last = admin_people.search("", asked)
        assert ([p.email for p in last.people], last.page) == (["p16@company.ru"], 3)
    for asked in (0, -1):
        assert admin_people.search("", asked).page == 1
    nine = admin_people.search("p0")
    assert (len(nine.people), nine.pages, nine.total) == (8, 2, 10)
    Person.update(deleted_at=T0).where(Person.email >= "p08").execute()
    eight = admin_people.search("")
    assert (len(eight.people), eight.pages, eight.total) == (8, 1, 8)
    assert admin_people.search("", 2).page == 1
    none = admin_people.search("nobody")
    assert (none.people, none.page, none.pages, none.total) == ([], 1, 1, 0)


# --- admin_people.py: the card ------------------------------------------------------------------


def test_person_card_holds_that_persons_loans_queues_and_history(seed, clock):
    ann, bob = seed.person(1, name="Анна"), seed.person(2, name="Борис")
    d = [seed.device(n) for n in (5, 3, 4, 9)]
    seed.loan(d[0], bob)
    seed.loan(d[1], bob)
    seed.loan(d[3], ann)
    clock.advance(minutes=1)
    queue.join(d[1].id, ann, clock.now)
    queue.join(d[0].id, ann, clock.now)  # the same moment: by number
    clock.advance(minutes=1)
    queue.join(d[1].id, seed.person(3), clock.now)
    card = admin_people.person_card(ann.id)
    assert card.person.id == ann.id
    assert [loan.device.number for loan in card.holding] == [9]
    assert [(e.device.number, e.person_id) for e in card.queues] == [(3, ann.id), (5, ann.id)]
    assert [loan.device_id for loan in card.history.loans] == [d[3].id]
    later = admin_people.person_card(bob.id)
    assert sorted(loan.device.number for loan in later.holding) == [3, 5]
    assert later.queues == [] and later.history.total == 2


def test_person_card_queues_go_by_joining_time_first(seed, clock):
    ann = seed.person(1)
    holder = seed.person(2)
    d5, d3 = seed.device(5), seed.device(3)
    seed.loan(d5, holder)
    seed.loan(d3, holder)
    queue.join(d5.id, ann, clock.now)
    clock.advance(minutes=1)
    queue.join(d3.id, ann, clock.now)
    card = admin_people.person_card(ann.id)
    assert [e.device.number for e in card.queues] == [5, 3]
    gone = seed.person(3)
    delete(gone, clock.now)
    with pytest.raises(NotFound):
        admin_people.person_card(gone.id)


# --- admin_people.py: changes -------------------------------------------------------------------


def test_change_email_rewrites_that_person_only_and_audits(seed, clock):
    admin = seed.person(1, "admin@company.ru")
    ann = seed.person(2, "ann@company.ru")
    bob = seed.person(3, "bob@company.ru")
    clock.advance(hours=1)
    before = snapshot()
    person = admin_people.change_email(ann.id, " Anna@Company.RU", actor=admin, now=clock.now,
                                       domains=("company.ru",))
    assert person.email == "anna@company.ru"
    assert changed(before) == {"Person": {ann.id}}
    row = Person.get_by_id(ann.id)
    assert (row.email, row.updated_at) == ("anna@company.ru", clock.now)
    [entry] = audits("person.email_changed")
    assert (entry.actor_id, entry.person_id) == (admin.id, ann.id)
    assert details(entry) == {"person_email": "anna@company.ru", "old": "ann@company.ru",
                              "new": "anna@company.ru"}
    # The same address again: nothing written, nothing audited.
    again = snapshot()
    admin_people.change_email(ann.id, "ANNA@company.ru", actor=admin, now=clock.now)
    assert changed(again) == {} and len(audits("person.email_changed")) == 1
    with pytest.raises(Conflict) as err:
        admin_people.change_email(ann.id, "bob@company.ru", actor=admin, now=clock.now)
    assert (err.value.details["field"], err.value.details["other"].id,
            err.value.details["value"]) == ("email", bob.id, "bob@company.ru")
    with pytest.raises(DomainNotAllowed):
        admin_people.change_email(ann.id, "ann@evil.ru", actor=admin, now=clock.now,
                                  domains=("company.ru",))
    assert Person.get_by_id(bob.id).email == "bob@company.ru"
    assert Person.get_by_id(ann.id).email == "anna@company.ru"


def test_set_comment_on_that_person_only_trimmed_and_limited(seed, clock):
    admin = seed.person(1)
    ann, bob = seed.person(2), seed.person(3)
    clock.advance(hours=1)
    before = snapshot()
    person = admin_people.set_comment(ann.id, "  в отпуске  ", actor=admin, now=clock.now)
    assert person.comment == "в отпуске"
    assert changed(before) == {"Person": {ann.id}}
    row = Person.get_by_id(ann.id)
    assert (row.comment, row.updated_at) == ("в отпуске", clock.now)
    [entry] = audits("person.comment")
    assert (entry.actor_id, entry.person_id) == (admin.id, ann.id)
    assert details(entry)["old"] == "" and details(entry)["new"] == "в отпуске"
    admin_people.set_comment(ann.id, "x" * admin_people.COMMENT_MAX, actor=admin, now=clock.now)
    assert len(Person.get_by_id(ann.id).comment) == 1000
    assert details(audits("person.comment")[1])["old"] == "в отпуске"
    with pytest.raises(InvalidValue) as err:
        admin_people.set_comment(ann.id, "y" * 1001, actor=admin, now=clock.now)
    assert err.value.details == {"field": "comment", "reason": "too_long", "limit": 1000}
    admin_people.set_comment(ann.id, "   ", actor=admin, now=clock.now)
    assert Person.get_by_id(ann.id).comment == ""
    assert Person.get_by_id(bob.id).comment == ""


def test_delete_person_refusals(seed, clock):
    admin = seed.person(1)
    ann = seed.person(2)
    d1, d2 = seed.device(1), seed.device(2)
    seed.loan(d1, ann)
    seed.loan(d2, ann)
    with pytest.raises(NotAllowed) as err:
        admin_people.delete_person(admin.id, actor=admin, now=clock.now)
    assert err.value.details == {"reason": "self"}
    with pytest.raises(NotAllowed) as err:
        admin_people.delete_person(ann.id, actor=admin, now=clock.now)
    assert err.value.details == {"reason": "holds", "count": 2}
    assert Person.select().where(Person.deleted_at.is_null(False)).count() == 0


def test_delete_person_leaves_their_queues_passes_their_hold_and_audits(seed, clock):
    admin = seed.person(1)
    ann, bob, eve = seed.person(2), seed.person(3), seed.person(4)
    holder = seed.person(5)
    d = [seed.device(n) for n in (7, 3, 5)]
    seed.loan(d[0], holder)
    seed.loan(d[1], holder)
    queue.join(d[0].id, ann, clock.now)
    queue.join(d[0].id, bob, clock.now + timedelta(minutes=1))
    queue.join(d[1].id, bob, clock.now)
    # d[2] is free and held for ann, eve waits after her.
    seed.loan(d[2], holder)
    queue.join(d[2].id, ann, clock.now)
    queue.join(d[2].id, eve, clock.now + timedelta(minutes=1))
    loans.return_device(d[2].id, holder, now=clock.now)
    assert queue.start_hold(d[2].id, clock.now).person.id == ann.id
    offer = handover.offer(d[0].id, holder, ann, clock.now)
    other_offer_device = seed.device(8)
    seed.loan(other_offer_device, holder)
    kept_offer = handover.offer(other_offer_device.id, holder, bob, clock.now)
    clock.advance(minutes=5)
    gone = admin_people.delete_person(ann.id, actor=admin, now=clock.now, hold_hours=2)
    assert gone.queues == 2
    assert [v.id for v in gone.voided] == [offer.id]
    assert [(o.entry.person_id, o.until) for o in gone.offers] == [
        (eve.id, clock.now + timedelta(hours=2))]
    row = Person.get_by_id(ann.id)
    assert (row.deleted_at, row.updated_at) == (clock.now, clock.now)
    assert [p.deleted_at for p in Person.select().where(Person.id != ann.id)] == [None] * 4
    assert QueueEntry.select().where(QueueEntry.person == ann.id).count() == 0
    assert sorted((e.device_id, e.person_id) for e in QueueEntry.select()) == sorted(
        [(d[0].id, bob.id), (d[1].id, bob.id), (d[2].id, eve.id)])
    assert handover.pending(other_offer_device.id).id == kept_offer.id
    [entry] = audits("person.deleted")
    assert (entry.actor_id, entry.person_id) == (admin.id, ann.id)
    assert sorted(details(entry)["queues_left"]) == [5, 7]
    assert details(entry)["handovers_voided"] == 1


def test_deleting_someone_without_queues_passes_nothing_on(seed, clock):
    admin = seed.person(1)
    ann, bob = seed.person(2), seed.person(3)
    holder = seed.person(4)
    device = seed.device(1)
    seed.loan(device, holder)
    queue.join(device.id, bob, clock.now)
    gone = admin_people.delete_person(ann.id, actor=admin, now=clock.now)
    assert (gone.queues, gone.offers, gone.voided) == (0, [], [])
    assert [e.person_id for e in QueueEntry.select()] == [bob.id]


def test_assign_creates_the_person_in_the_same_transaction(seed, clock):
    admin = seed.person(1)
    ann = seed.person(2)
    device, taken = seed.device(1), seed.device(2)
    seed.loan(taken, ann)
    loan = admin_people.assign(device.id, person_id=None, email="New@company.ru", actor=admin,
                               now=clock.now, place="склад", due_date=date(2026, 12, 20))
    person = Person.get(Person.email == "new@company.ru")
    assert audits("person.created")[0].actor_id == admin.id
    assert (loan.person_id, loan.place, loan.due_date, loan.assigned_by_id) == (
        person.id, "склад", date(2026, 12, 20), admin.id)
    with pytest.raises(AlreadyTaken):
        admin_people.assign(taken.id, person_id=None, email="late@company.ru", actor=admin,
                            now=clock.now)
    assert Person.get_or_none(Person.email == "late@company.ru") is None
    loans.return_device(device.id, person, now=clock.now)
    again = admin_people.assign(device.id, person_id=ann.id, email="ignored@company.ru",
                                actor=admin, now=clock.now)
    assert (again.person_id, again.place, again.due_date) == (ann.id, "", None)
    assert Person.get_or_none(Person.email == "ignored@company.ru") is None
    assert Loan.select().where(Loan.returned_at.is_null()).count() == 2


# --- audit.py -----------------------------------------------------------------------------------


def test_record_writes_names_numbers_and_dates_as_readable_json(seed, clock):
    actor = seed.person(1)
    unregistered = seed.person(None, "known@company.ru")
    person = seed.person(2, "ann@company.ru")
    device = seed.device(42, "Сканер Ёж")
    row = audit.record("x.done", actor=actor, now=clock.now, device=device, person=person,
                       when=date(2026, 12, 1), at=datetime(2026, 12, 1, 10, 30), n=3)
    stored = AuditLog.get_by_id(row.id)
    assert (stored.action, stored.actor_id, stored.actor_telegram_id, stored.device_id,
            stored.person_id, stored.created_at, stored.updated_at) == (
        "x.done", actor.id, 1, device.id, person.id, clock.now, clock.now)
    assert json.loads(stored.details) == {
        "when": "2026-12-01", "at": "2026-12-01T10:30:00", "n": 3, "device_number": 42,
        "device_name": "Сканер Ёж", "person_email": "ann@company.ru"}
    assert "Сканер Ёж" in stored.details
    # Explicit details win over the defaults; no actor, no device, no person.
    row = audit.record("y.done", actor=None, now=clock.now, device=device, person=person,
                       device_number=7, device_name="старое", person_email="old@company.ru")
    stored = AuditLog.get_by_id(row.id)
    assert json.loads(stored.details) == {"device_number": 7, "device_name": "старое",
                                          "person_email": "old@company.ru"}
    assert (stored.actor_id, stored.actor_telegram_id) == (None, None)
    row = audit.record("z.done", actor=unregistered, now=clock.now)
    stored = AuditLog.get_by_id(row.id)
    assert (stored.actor_id, stored.actor_telegram_id, stored.device_id, stored.person_id,
            stored.details) == (unregistered.id, None, None, None, "{}")


def test_record_many_writes_the_rows_entry_builds(seed, clock):
    actor = seed.person(1)
    device = seed.device(42)
    person = seed.person(2)
    rows = [audit.entry("a.one", actor=actor, now=clock.now, device_id=device.id,
                        person_id=person.id, due=date(2026, 12, 1), name="Ёж"),
            audit.entry("a.two", actor=None, now=clock.now + timedelta(minutes=1))]
    assert rows[0] == {"action": "a.one", "actor": actor.id, "actor_telegram_id": 1,
                       "device": device.id, "person": person.id,
                       "details": '{"due": "2026-12-01", "name": "Ёж"}',
                       "created_at": clock.now, "updated_at": clock.now}
    assert audit.record_many(rows) == 2
    assert audit.record_many([]) == 0
    stored = list(AuditLog.select().order_by(AuditLog.id))
    assert [(r.action, r.actor_id, r.actor_telegram_id, r.device_id, r.person_id, r.details,
             r.created_at, r.updated_at) for r in stored] == [
        ("a.one", actor.id, 1, device.id, person.id, '{"due": "2026-12-01", "name": "Ёж"}',
         clock.now, clock.now),
        ("a.two", None, None, None, None, "{}", clock.now + timedelta(minutes=1),
         clock.now + timedelta(minutes=1))]


# --- mailer.py ----------------------------------------------------------------------------------


class FakeSmtp:
    """Records what send_mail asks of smtplib; fails on the step named in `fail`."""

    made: list[FakeSmtp] = []
    fail = ""

    def __init__(self, host: str, port: int, timeout: float = 0, context: Any = None,
                 **rest: Any) -> None:
        self.args = (host, port, timeout)
        self.kind = type(self).__name__
        self.context = context
        self.calls: list[tuple[str, Any]] = []
        self.sent: list[Any] = []
        FakeSmtp.made.append(self)
        if self.fail == "connect":
            raise ConnectionRefusedError("refused")

    def __enter__(self) -> FakeSmtp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.calls.append(("quit", None))

    def starttls(self, context: Any = None) -> None:
        self.calls.append(("starttls", context is not None))

    def login(self, user: str, password: str) -> None:
        self.calls.append(("login", (user, password)))
        if self.fail == "login":
            raise smtplib.SMTPAuthenticationError(535, b"no")

    def send_message(self, message: Any) -> None:
        self.calls.append(("send", None))
        self.sent.append(message)


class FakeSmtpSsl(FakeSmtp):
    """The SMTP_SSL stand-in."""


@pytest.fixture
def fake_smtp(monkeypatch: pytest.MonkeyPatch) -> type[FakeSmtp]:
    """smtplib's clients replaced by recorders."""
    FakeSmtp.made = []
    FakeSmtp.fail = ""
    monkeypatch.setattr(smtplib, "SMTP", FakeSmtp)
    monkeypatch.setattr(smtplib, "SMTP_SSL", FakeSmtpSsl)
    return FakeSmtp


def test_mail_goes_plain_with_sender_recipient_subject_and_body(fake_smtp):
    settings = SmtpSettings(host="mail.local", port=25, sender="bot@company.ru")
    mailer.send_mail(settings, "ann@company.ru", "Код", "Ваш код: 123456")
    [client] = fake_smtp.made
    assert (client.kind, client.args) == ("FakeSmtp", ("mail.local", 25, mailer.TIMEOUT))
    assert mailer.TIMEOUT == 15
    assert client.calls == [("send", None), ("quit", None)]
    [message] = client.sent
    assert (message["From"], message["To"], message["Subject"]) == (
        "bot@company.ru", "ann@company.ru", "Код")
    assert message.get_content().strip() == "Ваш код: 123456"
    # Written on the wire as the usual header names, not only matched case-insensitively.
    assert message.keys()[:3] == ["From", "To", "Subject"]


def test_mail_over_ssl_or_starttls_with_login(fake_smtp):
    ssl_settings = SmtpSettings(host="smtp.company.ru", port=465, ssl=True, user="bot",
                                password="secret", sender="bot@company.ru")
    mailer.send_mail(ssl_settings, "a@company.ru", "s", "b")
    tls_settings = SmtpSettings(host="smtp.company.ru", port=587, starttls=True,
                                sender="bot@company.ru")
    mailer.send_mail(tls_settings, "b@company.ru", "s", "b")
    ssl_client, tls_client = fake_smtp.made
    assert (ssl_client.kind, ssl_client.args) == ("FakeSmtpSsl", ("smtp.company.ru", 465, 15))
    assert ssl_client.context is not None
    assert ssl_client.calls == [("login", ("bot", "secret")), ("send", None), ("quit", None)]
    assert (tls_client.kind, tls_client.args) == ("FakeSmtp", ("smtp.company.ru", 587, 15))
    assert tls_client.calls == [("starttls", True), ("send", None), ("quit", None)]


@pytest.mark.parametrize(("step", "name"), [("connect", "ConnectionRefusedError"),
                                            ("login", "SMTPAuthenticationError")])
def test_a_mail_failure_is_a_mail_error_named_after_its_cause(fake_smtp, step, name, caplog):
    fake_smtp.fail = step
    settings = SmtpSettings(host="smtp.company.ru", port=25, user="bot", password="secret")
    with pytest.raises(mailer.MailError) as err:
        mailer.send_mail(settings, "a@company.ru", "s", "код 654321")
    assert str(err.value) == name
    assert "654321" not in caplog.text and "secret" not in caplog.text


def test_deleting_costs_the_same_statements_for_one_queue_place_or_three(seed, clock):
    admin, holder = seed.person(1), seed.person(2)
    one, three = seed.person(3), seed.person(4)
    devices = [seed.device(n) for n in (1, 2, 3)]
    for device in devices:
        seed.loan(device, holder)
        queue.join(device.id, three, clock.now)
    queue.join(devices[0].id, one, clock.now)
    _, few = count_queries(lambda: admin_people.delete_person(one.id, actor=admin, now=clock.now))
    gone, many = count_queries(
        lambda: admin_people.delete_person(three.id, actor=admin, now=clock.now))
    assert gone.queues == 3
    assert many == few


def test_losing_the_race_for_an_email_is_told_as_taken(seed, clock, monkeypatch):
    seed.person(1, "other@company.ru")

    def racing_insert(telegram_id: int) -> bool:
        """Another account registers the same email between the lookup and the insert."""
        Person.create(telegram_id=99, email="race@company.ru")
        return False

    monkeypatch.setattr(people, "deleted_account", racing_insert)
    with pytest.raises(EmailTaken) as err:
        register(5, "Race@company.ru", clock)
    assert err.value.details == {"email": "race@company.ru"}
    assert people.by_telegram_id(5) is None


def test_person_card_ties_in_joining_time_go_by_number_and_history_starts_at_page_one(
        seed, clock):
    ann, holder = seed.person(1), seed.person(2)
    d9, d4 = seed.device(9), seed.device(4)
    seed.loan(d9, holder)
    seed.loan(d4, holder)
    queue.join(d9.id, ann, clock.now)
    queue.join(d4.id, ann, clock.now)  # the same moment, joined later, lower number
    other = seed.device(1)
    for _ in range(admin_people.PAGE_SIZE + 1):
        loans.take(other.id, ann, now=clock.now)
        clock.advance(hours=1)
        loans.return_device(other.id, ann, now=clock.now)
    card = admin_people.person_card(ann.id)
    assert [e.device.number for e in card.queues] == [4, 9]
    assert (card.history.page, card.history.pages, len(card.history.loans)) == (1, 2, 8)


def test_a_person_without_a_name_matches_by_email_only(seed):
    seed.person(1, "nameless@company.ru", name="")
    seed.person(2, "max@company.ru", name="Макс")
    assert [p.email for p in admin_people.search("xx").people] == []
    assert [p.email for p in admin_people.search("x").people] == ["max@company.ru"]
