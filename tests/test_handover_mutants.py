"""inventory/handover.py against mutants: what each answer writes, who may answer, the audit.

test_write_filters.py pins which rows each handover write touches; these pin the values written
(status, timestamps, the new loan's terms), the refusals and the audit details.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from conftest import count_queries
from test_write_filters import crowd  # noqa: F401 - the shared world of the write-filter tests

from inventory import devices, handover, loans
from inventory.errors import (
    AlreadyReturned,
    HandoverGone,
    HandoverPending,
    NotFound,
    NotHolder,
    SelfHandover,
)
from models import AuditLog, Handover, Loan, Person


def details(action: str) -> list[dict]:
    """The details of every audit row of an action, oldest first."""
    return [json.loads(a.details) for a in AuditLog.select().where(AuditLog.action == action)
            .order_by(AuditLog.id)]


def test_offer_refusals(crowd, clock):  # noqa: F811
    with pytest.raises(SelfHandover):
        handover.offer(crowd.d[2].id, crowd.p[0], crowd.p[0], clock.now)
    unregistered = Person.create(email="x@company.ru")
    with pytest.raises(NotFound) as err:
        handover.offer(crowd.d[2].id, crowd.p[0], unregistered, clock.now)
    assert err.value.details == {"person_id": unregistered.id}
    crowd.p[3].deleted_at = clock.now
    with pytest.raises(NotFound):
        handover.offer(crowd.d[2].id, crowd.p[0], crowd.p[3], clock.now)
    with pytest.raises(AlreadyReturned) as err:
        handover.offer(crowd.d[3].id, crowd.p[0], crowd.p[1], clock.now)
    assert err.value.details == {"device_id": crowd.d[3].id}
    with pytest.raises(NotHolder) as err:
        handover.offer(crowd.d[1].id, crowd.p[0], crowd.p[2], clock.now)
    assert err.value.details["holder"].id == crowd.p[1].id
    with pytest.raises(HandoverPending) as err:
        handover.offer(crowd.d[0].id, crowd.p[0], crowd.p[2], clock.now)
    assert err.value.details["handover"].id == crowd.offer[0].id
    assert Handover.select().count() == 2


def test_offer_writes_a_pending_offer_and_audits_it(crowd, clock):  # noqa: F811
    made = handover.offer(crowd.d[2].id, crowd.p[0], crowd.p[1], clock.now)
    row = Handover.get_by_id(made.id)
    assert (row.device_id, row.from_person_id, row.to_person_id, row.status, row.created_at,
            row.updated_at) == (crowd.d[2].id, crowd.p[0].id, crowd.p[1].id, handover.PENDING,
                                clock.now, clock.now)
    assert (made.device.id, made.from_person.id, made.to_person.id) == (
        crowd.d[2].id, crowd.p[0].id, crowd.p[1].id)
    assert details("handover.offered")[-1]["handover_id"] == made.id
    assert details("handover.void") == []  # nothing stale to void
    assert handover.pending(crowd.d[2].id).id == made.id
    assert handover.pending(crowd.d[2].id).to_person.name == crowd.p[1].name
    assert handover.pending(crowd.d[3].id) is None


def test_accept_moves_the_loan_with_its_terms(crowd, clock):  # noqa: F811
    clock.advance(hours=1)
    result = handover.accept(crowd.offer[0].id, crowd.p[5], clock.now)
    old = Loan.get_by_id(crowd.loan[0].id)
    new = Loan.get_by_id(result.new_loan.id)
    assert old.returned_at == clock.now and old.updated_at == clock.now
    assert (new.device_id, new.person_id, new.taken_at, new.due_date, new.place,
            new.returned_at) == (crowd.d[0].id, crowd.p[5].id, clock.now, date(2026, 12, 1),
                                 "склад", None)
    row = Handover.get_by_id(crowd.offer[0].id)
    assert (row.status, row.updated_at) == (handover.ACCEPTED, clock.now)
    assert result.handover.status == handover.ACCEPTED
    assert result.old_loan.returned_at == clock.now
    assert (result.device.id, result.new_loan.person.id) == (crowd.d[0].id, crowd.p[5].id)
    audit = details("handover.accepted")
    assert audit == [{"handover_id": crowd.offer[0].id, "from_email": crowd.p[0].email,
                      "old_loan_id": crowd.loan[0].id, "new_loan_id": new.id,
                      "due_date": "2026-12-01", "device_number": 1, "device_name": "Эвотор 1",
                      "person_email": crowd.p[5].email}]
    accepted = AuditLog.get(AuditLog.action == "handover.accepted")
    assert (accepted.actor_id, accepted.person_id, accepted.device_id) == (
        crowd.p[5].id, crowd.p[5].id, crowd.d[0].id)
    # A second press finds nothing to accept.
    with pytest.raises(HandoverGone):
        handover.accept(crowd.offer[0].id, crowd.p[5], clock.now)


def test_only_the_colleague_accepts(crowd, clock):  # noqa: F811
    for someone in (crowd.p[0], crowd.p[4]):
        with pytest.raises(HandoverGone) as err:
            handover.accept(crowd.offer[0].id, someone, clock.now)
        assert err.value.details == {"handover_id": crowd.offer[0].id}
    with pytest.raises(HandoverGone):
        handover.accept(10_000, crowd.p[5], clock.now)
    assert Handover.get_by_id(crowd.offer[0].id).status == handover.PENDING


def test_an_offer_overtaken_by_a_new_holder_is_void(crowd, clock):  # noqa: F811
    loans.return_device(crowd.d[0].id, crowd.p[0], now=clock.now)
    loans.take(crowd.d[0].id, crowd.p[1], now=clock.now)
    with pytest.raises(HandoverGone):
        handover.accept(crowd.offer[0].id, crowd.p[5], clock.now)
    row = Handover.get_by_id(crowd.offer[0].id)
    assert (row.status, row.updated_at) == (handover.VOID, clock.now)
    assert Loan.get((Loan.device == crowd.d[0].id) & Loan.returned_at.is_null()).person_id == \
        crowd.p[1].id
    assert [d["handover_id"] for d in details("handover.void")] == [crowd.offer[0].id]


@pytest.mark.parametrize(("answer", "status"), [("decline", handover.DECLINED),
                                                ("cancel", handover.CANCELLED)])
def test_answers_write_their_status_and_audit(crowd, clock, answer, status):  # noqa: F811
    clock.advance(minutes=3)
    if answer == "decline":
        answered = handover.decline(crowd.offer[1].id, crowd.p[4], clock.now)
    else:
        answered = handover.cancel(crowd.offer[1].id, crowd.p[1], clock.now, reason="передумал")
    row = Handover.get_by_id(crowd.offer[1].id)
    assert (row.status, row.updated_at, answered.status) == (status, clock.now, status)
    audit = AuditLog.get(AuditLog.action == f"handover.{status}")
    assert audit.person_id == crowd.p[4].id
    assert audit.actor_id == (crowd.p[4] if answer == "decline" else crowd.p[1]).id
    expected = {"handover_id": crowd.offer[1].id, "device_number": 2, "device_name": "Эвотор 2",
                "person_email": crowd.p[4].email}
    if answer == "cancel":
        expected["reason"] = "передумал"
    assert json.loads(audit.details) == expected
    with pytest.raises(HandoverGone):
        handover.decline(crowd.offer[1].id, crowd.p[4], clock.now)


def test_void_pending_writes_void_and_tells_who_was_offered(crowd, clock):  # noqa: F811
    [voided] = handover.void_pending(crowd.d[0].id, clock.now)
    assert (voided.status, voided.device.id, voided.to_person.id) == (
        handover.VOID, crowd.d[0].id, crowd.p[5].id)
    row = Handover.get_by_id(crowd.offer[0].id)
    assert (row.status, row.updated_at) == (handover.VOID, clock.now)
    assert details("handover.void") == [{"handover_id": crowd.offer[0].id, "reason": "returned",
                                         "device_number": 1, "device_name": "Эвотор 1",
                                         "person_email": crowd.p[5].email}]
    assert handover.void_pending(crowd.d[0].id, clock.now) == []
    assert handover.void_pending(crowd.d[3].id, clock.now) == []


def test_void_offers_to_a_deleted_colleague(crowd, clock):  # noqa: F811
    extra = Handover.create(device=crowd.d[2], from_person=crowd.p[0], to_person=crowd.p[5],
                            status=handover.PENDING, created_at=clock.now, updated_at=clock.now)
    voided = handover.void_offers_to(crowd.p[5], clock.now)
    assert sorted(h.id for h in voided) == sorted([crowd.offer[0].id, extra.id])
    assert all(h.status == handover.VOID and h.to_person.id == crowd.p[5].id for h in voided)
    assert {h.from_person.id for h in voided} == {crowd.p[0].id}
    statuses = {h.id: h.status for h in Handover.select()}
    assert statuses == {crowd.offer[0].id: handover.VOID, crowd.offer[1].id: handover.PENDING,
                        extra.id: handover.VOID}
    assert {d["reason"] for d in details("handover.void")} == {"deleted"}
    assert handover.void_offers_to(crowd.p[5], clock.now) == []


def test_find_colleagues_only_registered_active_people(crowd, clock):  # noqa: F811
    Person.update(username="olga_s", name="Ольга").where(Person.id == crowd.p[2].id).execute()
    Person.update(deleted_at=clock.now).where(Person.id == crowd.p[3].id).execute()
    assert [p.id for p in handover.find_colleagues("olga_s")] == [crowd.p[2].id]
    assert [p.id for p in handover.find_colleagues("@OLGA_S")] == [crowd.p[2].id]
    assert handover.find_colleagues(crowd.p[3].email) == []
    assert handover.find_colleagues("bad@") == []
    assert handover.find_colleagues("   ") == []
    # Same name: by id.
    assert [p.id for p in handover.find_colleagues("человек")] == [
        crowd.p[i].id for i in (0, 1, 4, 5)]


def test_same_names_in_id_order_and_short_usernames(crowd, clock):  # noqa: F811
    for person in (crowd.p[4], crowd.p[1], crowd.p[3]):
        Person.update(name="Анна Ким").where(Person.id == person.id).execute()
    Person.update(username="a").where(Person.id == crowd.p[2].id).execute()
    assert [p.id for p in handover.find_colleagues("анна")] == [
        crowd.p[1].id, crowd.p[3].id, crowd.p[4].id]
    assert [p.id for p in handover.find_colleagues("@a")] == [crowd.p[2].id]


def test_cancel_without_a_reason_records_an_empty_one(crowd, clock):  # noqa: F811
    handover.cancel(crowd.offer[1].id, crowd.p[1], clock.now)
    assert details("handover.cancelled")[0]["reason"] == ""
    with pytest.raises(HandoverGone) as err:
        handover.cancel(crowd.offer[1].id, crowd.p[1], clock.now)
    assert err.value.details == {"handover_id": crowd.offer[1].id}


def audit_rows(action: str) -> list[tuple]:
    """(actor, device, person, details) of every audit row of an action, oldest first."""
    return [(a.actor_id, a.device_id, a.person_id, json.loads(a.details))
            for a in AuditLog.select().where(AuditLog.action == action).order_by(AuditLog.id)]


def test_accept_answers_that_offer_only_among_the_colleagues_offers(crowd, clock):  # noqa: F811
    other = Handover.create(device=crowd.d[2], from_person=crowd.p[0], to_person=crowd.p[5],
                            status=handover.PENDING, created_at=clock.now, updated_at=clock.now)
    old = Handover.create(device=crowd.d[1], from_person=crowd.p[1], to_person=crowd.p[5],
                          status=handover.DECLINED, created_at=clock.now, updated_at=clock.now)
    handover.accept(crowd.offer[0].id, crowd.p[5], clock.now)
    statuses = {h.id: h.status for h in Handover.select()}
    assert statuses == {crowd.offer[0].id: handover.ACCEPTED, crowd.offer[1].id: handover.PENDING,
                        other.id: handover.PENDING, old.id: handover.DECLINED}
    new = Loan.get((Loan.device == crowd.d[0].id) & Loan.returned_at.is_null())
    assert (new.created_at, new.updated_at) == (clock.now, clock.now)


def test_offer_and_void_audit_rows_name_actor_device_and_person(crowd, clock):  # noqa: F811
    stale = Handover.create(device=crowd.d[2], from_person=crowd.p[3], to_person=crowd.p[4],
                            status=handover.PENDING, created_at=clock.now, updated_at=clock.now)
    clock.advance(minutes=1)
    made = handover.offer(crowd.d[2].id, crowd.p[0], crowd.p[1], clock.now)
    assert Handover.get_by_id(stale.id).updated_at == clock.now
    assert audit_rows("handover.void") == [(crowd.p[0].id, crowd.d[2].id, None, {
        "reason": "holder changed", "device_number": 3, "device_name": "Эвотор 3"})]
    assert audit_rows("handover.offered") == [(crowd.p[0].id, crowd.d[2].id, crowd.p[1].id, {
        "handover_id": made.id, "device_number": 3, "device_name": "Эвотор 3",
        "person_email": crowd.p[1].email})]


def test_a_void_accept_is_audited_with_the_colleague(crowd, clock):  # noqa: F811
    loans.return_device(crowd.d[0].id, crowd.p[0], now=clock.now)
    with pytest.raises(HandoverGone) as err:
        handover.accept(crowd.offer[0].id, crowd.p[5], clock.now)
    assert err.value.details == {"handover_id": crowd.offer[0].id}
    assert audit_rows("handover.void") == [(crowd.p[5].id, crowd.d[0].id, crowd.p[5].id, {
        "handover_id": crowd.offer[0].id, "device_number": 1, "device_name": "Эвотор 1",
        "person_email": crowd.p[5].email})]


def test_pending_joins_both_people_in_its_one_query(crowd, clock):  # noqa: F811
    """The offer waiting on a device comes with holder and colleague: no lazy load after it."""
    found, statements = count_queries(lambda: handover.pending(crowd.d[1].id))
    assert statements == 1
    people, statements = count_queries(lambda: (found.from_person.name, found.to_person.name,
                                                found.to_person.email))
    assert statements == 0
    assert people == (crowd.p[1].name, crowd.p[4].name, crowd.p[4].email)
    assert found.id == crowd.offer[1].id


def test_a_card_carries_only_its_holders_pending_offer_with_both_people(crowd, clock):  # noqa: F811
    """The card's one query joins the offer: not another device's, an answered one or one
    left over from an earlier holder."""
    now = clock.now
    d, p = crowd.d, crowd.p
    # d2 is held by p0, who has a pending offer for d0: none of these is d2's offer.
    Handover.create(device=d[2], from_person=p[0], to_person=p[1], status=handover.DECLINED,
                    created_at=now, updated_at=now)
    Handover.create(device=d[2], from_person=p[3], to_person=p[4], status=handover.PENDING,
                    created_at=now, updated_at=now)
    assert devices.card(d[2].id, now).offer is None
    row, statements = count_queries(lambda: devices.card(d[0].id, now))
    assert statements == 1
    people, statements = count_queries(lambda: (row.offer.from_person.name,
                                                row.offer.to_person.name))
    assert (row.offer.id, people, statements) == (crowd.offer[0].id, (p[0].name, p[5].name), 0)
    listed = {r.device.id: r.offer.id if r.offer else None
              for r in devices.page_all(1, now).rows}
    assert listed == {d[0].id: crowd.offer[0].id, d[1].id: crowd.offer[1].id, d[2].id: None,
                      d[3].id: None, d[4].id: None, d[5].id: None}


def test_an_answer_returns_the_offer_with_device_and_people_loaded(crowd, clock):  # noqa: F811
    """decline and cancel load the offer with its device and both people in one query."""
    answered = handover.decline(crowd.offer[1].id, crowd.p[4], clock.now)
    got, statements = count_queries(lambda: (
        answered.device.number, answered.from_person.name, answered.to_person.name))
    assert statements == 0
    assert got == (2, crowd.p[1].name, crowd.p[4].name)
    cancelled = handover.cancel(crowd.offer[0].id, crowd.p[0], clock.now)
    got, statements = count_queries(lambda: (
        cancelled.device.number, cancelled.from_person.name, cancelled.to_person.name))
    assert statements == 0
    assert got == (1, crowd.p[0].name, crowd.p[5].name)


def test_void_offers_to_returns_device_and_holder_loaded(crowd, clock):  # noqa: F811
    """The voided offers carry device and holder (for telling the holders) without more queries."""
    extra = Handover.create(device=crowd.d[2], from_person=crowd.p[0], to_person=crowd.p[5],
                            status=handover.PENDING, created_at=clock.now, updated_at=clock.now)
    voided = handover.void_offers_to(crowd.p[5], clock.now)
    got, statements = count_queries(lambda: sorted(
        (h.id, h.device.number, h.from_person.name, h.to_person.name) for h in voided))
    assert statements == 0
    assert got == sorted([(crowd.offer[0].id, 1, crowd.p[0].name, crowd.p[5].name),
                          (extra.id, 3, crowd.p[0].name, crowd.p[5].name)])


def test_voiding_records_each_offer_and_its_time(crowd, clock):  # noqa: F811
    """Each void offer gets its own audit row (its device, the deleted colleague, its id) and
    the time of the void; the offer to someone else keeps its time."""
    extra = Handover.create(device=crowd.d[2], from_person=crowd.p[0], to_person=crowd.p[5],
                            status=handover.PENDING, created_at=clock.now, updated_at=clock.now)
    before = {h.id: h.updated_at for h in Handover.select()}
    clock.advance(minutes=5)
    voided = handover.void_offers_to(crowd.p[5], clock.now)
    rows = [(a.actor_id, a.device_id, a.person_id, json.loads(a.details)["handover_id"])
            for a in AuditLog.select().where(AuditLog.action == "handover.void")
            .order_by(AuditLog.id)]
    assert sorted(rows, key=lambda r: r[3]) == sorted(
        [(None, h.device.id, crowd.p[5].id, h.id) for h in voided], key=lambda r: r[3])
    assert {r[1] for r in rows} == {crowd.offer[0].device.id, crowd.d[2].id}
    times = {h.id: h.updated_at for h in Handover.select()}
    assert times[crowd.offer[0].id] == times[extra.id] == clock.now
    assert times[crowd.offer[1].id] == before[crowd.offer[1].id]
