"""Every UPDATE and DELETE in inventory/ touches only its own rows.

Each test runs on a crowd of devices, people, loans, queue entries, holds, handovers and digests,
takes a snapshot of every table, makes one change and then checks which rows differ. A WHERE
clause that is dropped or weakened (`&` turned into `|`, one condition lost) changes rows the
test names as untouched, so it fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from conftest import T0

from inventory import admin_people, catalog, devtools, handover, loans, people, queue, reminders
from inventory.errors import NotFound, NotHolder
from inventory.locks import lock_device
from models import MODELS, AuditLog, Device, Handover, Loan, Person, QueueEntry, db

LIVE = T0 + timedelta(hours=12)  # a hold that has not run out at T0
GONE = T0 - timedelta(hours=1)  # a hold that ran out before T0
TODAY = date(2026, 11, 26)


def snapshot() -> dict[str, dict[int, dict[str, Any]]]:
    """Every row of every table but the audit log, by id."""
    return {m.__name__: {row["id"]: row for row in m.select().dicts()}
            for m in MODELS if m is not AuditLog and "id" in m._meta.fields}


def changed(before: dict[str, dict[int, dict[str, Any]]]) -> dict[str, set[int]]:
    """Rows changed, added or removed since `before`, per table (tables without any left out)."""
    after = snapshot()
    result: dict[str, set[int]] = {}
    for table, rows in after.items():
        old = before[table]
        ids = {i for i in rows.keys() | old.keys() if rows.get(i) != old.get(i)}
        if ids:
            result[table] = ids
    return result


@dataclass
class Crowd:
    """Six devices, six people, loans on three devices, queues and holds on four, handovers."""

    d: list[Device]
    p: list[Person]
    loan: dict[int, Loan]  # by device index
    entry: dict[tuple[int, int], QueueEntry]  # by (device index, person index)
    offer: dict[int, Handover]  # pending handovers by device index


def entry(device: Device, person: Person, minutes: int, hold_until: datetime | None = None
          ) -> QueueEntry:
    """A queue entry joined `minutes` after T0 - 1 day."""
    joined = T0 - timedelta(days=1) + timedelta(minutes=minutes)
    return QueueEntry.create(device=device, person=person, joined_at=joined, hold_until=hold_until,
                             created_at=joined, updated_at=joined)


@pytest.fixture
def crowd(backend, seed) -> Crowd:
    """The shared world of every test here (see Crowd)."""
    d = [seed.device(n, f"Эвотор {n}") for n in range(1, 7)]
    p = [seed.person(100 + i, name=f"Человек {i}") for i in range(6)]
    loan = {
        0: seed.loan(d[0], p[0], due=date(2026, 12, 1), place="склад"),
        1: seed.loan(d[1], p[1], due=date(2026, 11, 20), place="офис"),
        2: seed.loan(d[2], p[0], due=date(2026, 11, 27), place="дома"),
    }
    entries = {
        (0, 1): entry(d[0], p[1], 1), (0, 2): entry(d[0], p[2], 2),
        (1, 2): entry(d[1], p[2], 3), (1, 0): entry(d[1], p[0], 4),
        # free devices: a live hold and someone waiting; an expired hold and someone waiting
        (3, 3): entry(d[3], p[3], 5, LIVE), (3, 4): entry(d[3], p[4], 6),
        (4, 2): entry(d[4], p[2], 7, LIVE), (4, 3): entry(d[4], p[3], 8),
        (5, 4): entry(d[5], p[4], 9, GONE), (5, 5): entry(d[5], p[5], 10),
    }
    now = seed.clock.now
    offers = {}
    for index, colleague in ((0, p[5]), (1, p[4])):
        offers[index] = Handover.create(device=d[index], from_person=loan[index].person,
                                        to_person=colleague, status=handover.PENDING,
                                        created_at=now, updated_at=now)
    return Crowd(d, p, loan, entries, offers)


def ids(*rows: Any) -> set[int]:
    """The ids of rows."""
    return {row.id for row in rows}


# --- loans.py --------------------------------------------------------------------------------


def test_change_rewrites_only_the_holders_loan(crowd, clock):
    before = snapshot()
    loans.change(crowd.d[0].id, crowd.p[0], now=clock.now, due_date=date(2026, 12, 24),
                 place="у окна")
    assert changed(before) == {"Loan": ids(crowd.loan[0])}
    assert Loan.get_by_id(crowd.loan[2].id).due_date == date(2026, 11, 27)


def test_change_by_someone_who_does_not_hold_it_is_refused(crowd, clock):
    before = snapshot()
    with pytest.raises(NotHolder):
        loans.change(crowd.d[1].id, crowd.p[0], now=clock.now, due_date=date(2026, 12, 24))
    assert changed(before) == {}


def test_return_closes_only_that_loan(crowd, clock):
    before = snapshot()
    loans.return_device(crowd.d[0].id, crowd.p[0], now=clock.now)
    assert changed(before) == {"Loan": ids(crowd.loan[0])}


def test_a_refused_return_closes_nothing_and_an_admins_closes_that_loan_only(crowd, clock):
    # p[0] holds d[0] and d[2]: refused on d[1] (p[1]'s), then an admin returns d[2] for p[0].
    before = snapshot()
    with pytest.raises(NotHolder):
        loans.return_device(crowd.d[1].id, crowd.p[0], now=clock.now)
    assert changed(before) == {}
    returned = loans.return_device(crowd.d[2].id, crowd.p[5], now=clock.now, admin=True)
    assert changed(before) == {"Loan": ids(crowd.loan[2])}
    assert returned.person.id == crowd.p[0].id


def test_take_ends_only_the_takers_own_wait_for_that_device(crowd, clock):
    # p[4] waits for d[3] (held for p[3]), and holds the expired hold of d[5]: taking the free
    # d[5] removes only p[4]'s entry there.
    before = snapshot()
    loans.take(crowd.d[5].id, crowd.p[4], now=clock.now)
    diff = changed(before)
    assert diff["QueueEntry"] == ids(crowd.entry[5, 4])
    assert set(diff) == {"Loan", "QueueEntry"}


def test_admin_assign_clears_holds_on_that_device_only(crowd, clock):
    admin = crowd.p[5]
    before = snapshot()
    loans.take(crowd.d[3].id, crowd.p[0], now=clock.now, assigned_by=admin)
    diff = changed(before)
    assert diff["QueueEntry"] == ids(crowd.entry[3, 3])
    assert QueueEntry.get_by_id(crowd.entry[3, 3].id).hold_until is None
    assert QueueEntry.get_by_id(crowd.entry[4, 2].id).hold_until == LIVE


def test_lock_of_a_missing_device_is_not_found_while_others_exist(crowd):
    with db.atomic(), pytest.raises(NotFound):
        lock_device(max(d.id for d in crowd.d) + 1)


# --- queue.py --------------------------------------------------------------------------------


def test_queue_of_lists_only_that_devices_line(crowd, clock):
    line = queue.queue_of(crowd.d[0].id, clock.now)
    assert [e.id for e in line.entries] == [crowd.entry[0, 1].id, crowd.entry[0, 2].id]


def test_leave_removes_only_that_entry(crowd, clock):
    before = snapshot()
    assert queue.leave(crowd.d[0].id, crowd.p[2], clock.now) is None
    assert changed(before) == {"QueueEntry": ids(crowd.entry[0, 2])}


def test_leaving_a_hold_passes_it_on_within_that_device(crowd, clock):
    before = snapshot()
    offer = queue.leave(crowd.d[3].id, crowd.p[3], clock.now)
    assert offer.person.id == crowd.p[4].id
    assert changed(before) == {"QueueEntry": ids(crowd.entry[3, 3], crowd.entry[3, 4])}


def test_decline_drops_only_that_hold(crowd, clock):
    before = snapshot()
    offer = queue.decline_hold(crowd.d[4].id, crowd.p[2], clock.now)
    assert offer.person.id == crowd.p[3].id
    # p[2] also waits for d[0] and d[1]: those entries stay.
    assert changed(before) == {"QueueEntry": ids(crowd.entry[4, 2], crowd.entry[4, 3])}


def test_expiry_of_one_device_leaves_other_devices_alone(crowd, clock, seed):
    # A second free device whose hold ran out at the very same moment as d[5]'s.
    extra = seed.device(7)
    other = entry(extra, crowd.p[1], 11, GONE)
    waiting = entry(extra, crowd.p[0], 12)
    before = snapshot()
    offers = queue.expire_holds(clock.now, device_id=crowd.d[5].id)
    assert [(o.device.id, o.person.id) for o in offers] == [(crowd.d[5].id, crowd.p[5].id)]
    assert changed(before) == {"QueueEntry": ids(crowd.entry[5, 4], crowd.entry[5, 5])}
    assert QueueEntry.get_by_id(other.id).hold_until == GONE
    assert QueueEntry.get_by_id(waiting.id).hold_until is None


def test_expire_holds_passes_on_every_run_out_hold(crowd, clock, seed):
    extra = seed.device(7)
    entry(extra, crowd.p[1], 11, GONE)
    entry(extra, crowd.p[0], 12)
    lapsed: list[queue.Lapse] = []
    offers = queue.expire_holds(clock.now, lapsed=lapsed)
    assert sorted((o.device.number, o.person.id) for o in offers) == [
        (6, crowd.p[5].id), (7, crowd.p[0].id)]
    assert sorted((x.device.number, x.person.id) for x in lapsed) == [
        (6, crowd.p[4].id), (7, crowd.p[1].id)]
    # The live holds of d[3] and d[4] were not touched.
    assert QueueEntry.get_by_id(crowd.entry[3, 3].id).hold_until == LIVE
    assert QueueEntry.get_by_id(crowd.entry[4, 2].id).hold_until == LIVE


def test_a_run_out_hold_behind_a_deleted_persons_entry_is_still_dropped(crowd, clock, seed):
    # The line's head is someone deleted whose entry stayed (a deletion only removes entries it
    # commits with): the run-out hold behind them goes, and the hold passes to the next person.
    extra = seed.device(7)
    ghost = seed.person(300, name="Удалённый")
    Person.update(deleted_at=GONE).where(Person.id == ghost.id).execute()
    entry(extra, ghost, 10)
    lapsed_entry = entry(extra, crowd.p[1], 11, GONE)
    entry(extra, crowd.p[2], 12)
    lapsed: list[queue.Lapse] = []
    offers = queue.expire_holds(clock.now, lapsed=lapsed)
    assert [(x.device.number, x.person.id) for x in lapsed if x.device.number == 7] == [
        (7, crowd.p[1].id)]
    assert not QueueEntry.select().where(QueueEntry.id == lapsed_entry.id).exists()
    assert [(o.device.number, o.person.id) for o in offers if o.device.number == 7] == [
        (7, crowd.p[2].id)]


def test_a_hold_cleared_by_a_loan_is_cleared_on_that_device_only(crowd, clock):
    # Someone got d[4] without the domain (e.g. an old import): its hold goes back to waiting.
    Loan.create(device=crowd.d[4], person=crowd.p[0], taken_at=clock.now, created_at=clock.now,
                updated_at=clock.now)
    before = snapshot()
    assert queue.start_hold(crowd.d[4].id, clock.now) is None
    assert changed(before) == {"QueueEntry": ids(crowd.entry[4, 2])}
    assert QueueEntry.get_by_id(crowd.entry[3, 3].id).hold_until == LIVE


# --- reminders.py ----------------------------------------------------------------------------


def test_claim_and_release_touch_only_the_given_loans(crowd, clock):
    until = date(2026, 12, 31)
    before = snapshot()
    claimed = reminders.claim([crowd.loan[1].id], TODAY, until, clock.now)
    assert claimed == {crowd.loan[1].id}
    assert changed(before) == {"Loan": ids(crowd.loan[1])}
    # Another loan was reminded today by another run: releasing ours must not free it.
    reminders.claim([crowd.loan[2].id], TODAY, until, clock.now)
    before = snapshot()
    assert reminders.release({crowd.loan[1].id: None}, TODAY, clock.now) == 1
    assert changed(before) == {"Loan": ids(crowd.loan[1])}
    assert Loan.get_by_id(crowd.loan[2].id).reminded_on == TODAY


def test_releasing_one_admins_digest_keeps_the_others(crowd, clock):
    first = reminders.claim_digest(TODAY, 900, clock.now)
    reminders.claim_digest(TODAY, 901, clock.now)
    reminders.claim_digest(TODAY - timedelta(days=1), 900, clock.now)
    reminders.release_digest(first, clock.now)
    assert not reminders.digest_sent(TODAY, 900)
    assert reminders.digest_sent(TODAY, 901)
    assert reminders.digest_sent(TODAY - timedelta(days=1), 900)
    assert AuditLog.select().where(AuditLog.action == reminders.DIGEST_RELEASED).count() == 1


# --- handover.py -----------------------------------------------------------------------------


def test_accept_moves_only_that_device(crowd, clock):
    before = snapshot()
    result = handover.accept(crowd.offer[0].id, crowd.p[5], clock.now)
    diff = changed(before)
    assert diff["Handover"] == ids(crowd.offer[0])
    assert diff["Loan"] == ids(crowd.loan[0], result.new_loan)
    assert "QueueEntry" not in diff


def test_accept_removes_the_colleagues_own_wait_for_that_device_only(crowd, clock):
    waiting = entry(crowd.d[0], crowd.p[5], 20)
    before = snapshot()
    handover.accept(crowd.offer[0].id, crowd.p[5], clock.now)
    assert changed(before)["QueueEntry"] == {waiting.id}


def test_an_offer_overtaken_by_a_return_is_voided_alone(crowd, clock):
    loans.return_device(crowd.d[0].id, crowd.p[0], now=clock.now)
    before = snapshot()
    with pytest.raises(handover.HandoverGone):
        handover.accept(crowd.offer[0].id, crowd.p[5], clock.now)
    assert changed(before) == {"Handover": ids(crowd.offer[0])}
    assert Handover.get_by_id(crowd.offer[1].id).status == handover.PENDING


@pytest.mark.parametrize("answer", ["decline", "cancel"])
def test_decline_and_cancel_answer_only_that_offer(crowd, clock, answer):
    before = snapshot()
    if answer == "decline":
        handover.decline(crowd.offer[1].id, crowd.p[4], clock.now)
    else:
        handover.cancel(crowd.offer[1].id, crowd.p[1], clock.now)
    assert changed(before) == {"Handover": ids(crowd.offer[1])}


def test_only_the_party_may_answer(crowd, clock):
    before = snapshot()
    with pytest.raises(handover.HandoverGone):
        handover.decline(crowd.offer[1].id, crowd.p[5], clock.now)  # the other offer's colleague
    with pytest.raises(handover.HandoverGone):
        handover.cancel(crowd.offer[1].id, crowd.p[0], clock.now)  # the other offer's holder
    assert changed(before) == {}


def test_void_pending_voids_that_devices_offer_only(crowd, clock):
    before = snapshot()
    assert [h.id for h in handover.void_pending(crowd.d[1].id, clock.now)] == [crowd.offer[1].id]
    assert changed(before) == {"Handover": ids(crowd.offer[1])}


def test_a_new_holders_offer_voids_the_former_holders_offer_only(crowd, clock):
    # d[2]'s holder changed behind the offer's back; d[0]'s offer must stay pending.
    stale = Handover.create(device=crowd.d[2], from_person=crowd.p[3], to_person=crowd.p[4],
                            status=handover.PENDING, created_at=clock.now, updated_at=clock.now)
    before = snapshot()
    made = handover.offer(crowd.d[2].id, crowd.p[0], crowd.p[1], clock.now)
    assert changed(before) == {"Handover": {stale.id, made.id}}
    assert Handover.get_by_id(stale.id).status == handover.VOID


def test_deleting_a_person_voids_offers_to_them_only_and_leaves_their_queues(crowd, clock):
    before = snapshot()
    assert admin_people.delete_person(crowd.p[5].id, actor=crowd.p[0], now=clock.now).queues == 1
    assert changed(before) == {"Person": ids(crowd.p[5]), "Handover": ids(crowd.offer[0]),
                               "QueueEntry": ids(crowd.entry[5, 5])}


# --- people ----------------------------------------------------------------------------------


def test_person_edits_touch_one_person(crowd, clock):
    before = snapshot()
    admin_people.set_comment(crowd.p[2].id, "в отпуске", actor=crowd.p[0], now=clock.now)
    admin_people.change_email(crowd.p[2].id, "new.mail@company.ru", actor=crowd.p[0], now=clock.now,
                           domains=())
    people.refresh_profile(crowd.p[2], name="Новое Имя", username="newname")
    assert changed(before) == {"Person": ids(crowd.p[2])}


def test_restoring_a_deleted_person_restores_only_them(crowd, clock):
    for person in (crowd.p[4], crowd.p[5]):
        Person.update(deleted_at=clock.now).where(Person.id == person.id).execute()
    before = snapshot()
    admin_people.person_for_email(crowd.p[4].email, actor=None, now=clock.now)
    assert changed(before) == {"Person": ids(crowd.p[4])}


def test_registering_under_another_email_unlinks_only_that_account(crowd, clock):
    before = snapshot()
    people.register(crowd.p[3].telegram_id, "other.mail@company.ru", name="Вера", username="v",
                    now=clock.now, domains=())
    diff = changed(before)
    assert crowd.p[3].id in diff["Person"]
    assert diff["Person"] - {crowd.p[3].id} == {
        Person.get(Person.email == "other.mail@company.ru").id}


# --- devices ---------------------------------------------------------------------------------


def test_editing_a_device_changes_only_it(crowd, clock):
    before = snapshot()
    catalog.update_field(crowd.d[3].id, "name", "Атол 91Ф", actor=crowd.p[0], now=clock.now)
    assert changed(before) == {"Device": ids(crowd.d[3])}


def test_deleting_a_device_deletes_only_it_and_its_queue(crowd, clock):
    before = snapshot()
    catalog.delete_device(crowd.d[5].id, actor=crowd.p[0], now=clock.now)
    assert changed(before) == {"Device": ids(crowd.d[5]),
                               "QueueEntry": ids(crowd.entry[5, 4], crowd.entry[5, 5])}


def test_purge_deletes_only_the_chosen_free_devices(crowd, clock):
    before = snapshot()
    gone = devtools.purge([crowd.d[3].id, crowd.d[0].id], person=crowd.p[0], telegram_id=1,
                          now=clock.now)
    assert [d.id for d in gone] == [crowd.d[3].id]
    assert changed(before) == {"Device": ids(crowd.d[3]),
                               "QueueEntry": ids(crowd.entry[3, 3], crowd.entry[3, 4])}


# --- import_apply.py -------------------------------------------------------------------------


def test_an_import_touches_only_the_devices_and_people_it_names(crowd, clock):
    from inventory.import_apply import apply_plan, existing_data
    from inventory.importing import build_plan

    header = ["Айди", "Название", "Категория", "Артикул", "Дата регистрации", "Прошивка",
              "Комментарий", "Электронная почта", "Место устройства", "Дата возврата"]
    for person in (crowd.p[2], crowd.p[3]):  # two deleted people; the file names one
        Person.update(deleted_at=clock.now).where(Person.id == person.id).execute()
    rows = [
        # d[0]: held by p[0], p[1] and p[2] waiting; the file gives it to p[1]
        ["1", "Эвотор 1", "Онлайн-касса", "SN-00001", "", "", "", crowd.p[1].email, "", ""],
        # d[3]: free, held for p[3], p[4] waiting; the file gives it to p[4]
        ["4", "Эвотор 4", "Онлайн-касса", "SN-00004", "", "", "", crowd.p[4].email, "", ""],
        # d[4]: free, live hold for p[2] (deleted); the file gives it to p[2], who comes back
        ["5", "Эвотор 5", "Онлайн-касса", "SN-00005", "", "", "", crowd.p[2].email, "", ""],
    ]
    plan = build_plan([header, *rows], existing_data(), TODAY)
    assert plan.ok, plan.errors
    before = snapshot()
    apply_plan(plan, crowd.p[5], clock.now)
    diff = changed(before)
    new_loans = {loan.id for loan in Loan.select().where(Loan.id.not_in(list(before["Loan"])))}
    assert len(new_loans) == 3
    assert diff["Loan"] == ids(crowd.loan[0]) | new_loans
    assert diff["Person"] == ids(crowd.p[2])
    # p[1]'s wait for d[0], p[4]'s for d[3] and p[2]'s hold of d[4] end; p[3]'s hold of d[3]
    # and p[3]'s wait for d[4] go back to waiting; nothing else in any queue changes.
    assert diff["QueueEntry"] == ids(crowd.entry[0, 1], crowd.entry[3, 4], crowd.entry[3, 3],
                                     crowd.entry[4, 2])
    assert QueueEntry.get_by_id(crowd.entry[3, 3].id).hold_until is None
    assert QueueEntry.get_by_id(crowd.entry[5, 4].id).hold_until == GONE
    assert "Device" not in diff
