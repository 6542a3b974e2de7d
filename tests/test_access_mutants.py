"""inventory/access.py against mutants: every write touches only its own rows, every rule bites.

Each test runs on several chats, codes, requests and people, so a dropped or weakened WHERE
clause, a flipped comparison or a lost permission check changes rows the test names as
untouched (see docs/mutation.md).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from test_write_filters import changed, snapshot

from inventory import access, loans
from inventory.errors import (
    AlreadyDecided,
    CodeExpired,
    Locked,
    NotAllowed,
    NotFound,
    WrongCode,
)
from models import AccessRequest, AuditLog, Person, RegistrationCode

CHAT, OTHER = 555, 556


def codes_of(chat_id: int) -> list[RegistrationCode]:
    """A chat's codes, oldest first."""
    return list(RegistrationCode.select().where(RegistrationCode.chat_id == chat_id)
                .order_by(RegistrationCode.id))


# --- the role ----------------------------------------------------------------------------------


def test_is_admin_needs_a_bootstrap_id_or_an_active_flagged_person(seed, clock):
    plain = seed.person(1)
    flagged = seed.person(2)
    flagged.is_admin = True
    assert access.is_admin(None, 7, {7}) is True
    assert access.is_admin(plain, 1, {7}) is False
    assert access.is_admin(None, 1, {7}) is False
    assert access.is_admin(flagged, 2, {7}) is True
    flagged.deleted_at = clock.now
    assert access.is_admin(flagged, 2, {7}) is False


def test_admin_chat_ids_are_flagged_active_registered_people_and_bootstrap_sorted(seed, clock):
    for telegram_id, admin, deleted in ((30, True, False), (10, True, False), (20, False, False),
                                        (40, True, True)):
        person = seed.person(telegram_id)
        Person.update(is_admin=admin, deleted_at=clock.now if deleted else None).where(
            Person.id == person.id).execute()
    unregistered = seed.person(None, "x@company.ru")
    Person.update(is_admin=True).where(Person.id == unregistered.id).execute()
    assert access.admin_chat_ids([50, 5, 10]) == [5, 10, 30, 50]


def test_set_admin_changes_that_person_only_and_audits_once(seed, clock):
    people = [seed.person(tid) for tid in (1, 2, 3)]
    before = snapshot()
    person = access.set_admin(people[1].id, True, actor=people[0], now=clock.now,
                              bootstrap_ids=())
    assert person.is_admin is True
    assert changed(before) == {"Person": {people[1].id}}
    assert Person.get_by_id(people[1].id).updated_at == clock.now
    assert [p.is_admin for p in Person.select().order_by(Person.id)] == [False, True, False]
    assert AuditLog.select().where(AuditLog.action == "person.admin_granted").count() == 1
    # Granting again writes nothing and audits nothing.
    access.set_admin(people[1].id, True, actor=people[0], now=clock.now, bootstrap_ids=())
    assert AuditLog.select().where(AuditLog.action == "person.admin_granted").count() == 1
    access.set_admin(people[2].id, True, actor=None, now=clock.now, bootstrap_ids=())
    access.set_admin(people[1].id, False, actor=people[0], now=clock.now, bootstrap_ids=())
    assert [p.is_admin for p in Person.select().order_by(Person.id)] == [False, False, True]
    revoked = AuditLog.get(AuditLog.action == "person.admin_revoked")
    assert revoked.person_id == people[1].id and revoked.actor_id == people[0].id


def test_set_admin_refusals(seed, clock):
    me = seed.person(1)
    boot = seed.person(2)
    gone = seed.person(3)
    Person.update(deleted_at=clock.now).where(Person.id == gone.id).execute()
    unregistered = seed.person(None, "u@company.ru")
    with pytest.raises(NotFound) as missing:
        access.set_admin(gone.id, True, actor=me, now=clock.now, bootstrap_ids=())
    assert missing.value.details == {"person_id": gone.id}
    with pytest.raises(NotFound):
        access.set_admin(10_000, True, actor=me, now=clock.now, bootstrap_ids=())
    with pytest.raises(NotAllowed) as err:
        access.set_admin(unregistered.id, True, actor=me, now=clock.now, bootstrap_ids=())
    assert err.value.details["reason"] == "unregistered"
    access.set_admin(boot.id, True, actor=me, now=clock.now, bootstrap_ids=[2])
    with pytest.raises(NotAllowed) as err:
        access.set_admin(boot.id, False, actor=me, now=clock.now, bootstrap_ids=[2])
    assert err.value.details["reason"] == "bootstrap"
    access.set_admin(me.id, True, actor=me, now=clock.now, bootstrap_ids=())
    with pytest.raises(NotAllowed) as err:
        access.set_admin(me.id, False, actor=me, now=clock.now, bootstrap_ids=[2])
    assert err.value.details["reason"] == "self"
    # Someone else may take it away; nobody else was touched.
    access.set_admin(me.id, False, actor=boot, now=clock.now, bootstrap_ids=[2])
    assert Person.get_by_id(me.id).is_admin is False
    assert Person.get_by_id(boot.id).is_admin is True
    assert Person.get_by_id(gone.id).is_admin is False


# --- codes and lock-outs ---------------------------------------------------------------------


def test_a_new_code_voids_only_that_chats_older_codes(conn, clock):
    theirs = access.issue_code(OTHER, "o@company.ru", now=clock.now)
    first = access.issue_code(CHAT, "a@company.ru", now=clock.now)
    assert first.code is not None and len(first.code) == access.CODE_DIGITS
    assert first.expires_at == clock.now + access.CODE_TTL
    clock.advance(minutes=1)
    second = access.issue_code(CHAT, "a@company.ru", now=clock.now)
    assert [c.used_at for c in codes_of(CHAT)] == [clock.now, None]
    assert RegistrationCode.get_by_id(theirs.id).used_at is None
    assert RegistrationCode.get_by_id(second.id).created_at == clock.now
    with pytest.raises(WrongCode):
        access.check_code(CHAT, first.code if first.code != second.code else "x", now=clock.now)
    assert access.check_code(OTHER, theirs.code, now=clock.now) == "o@company.ru"


def test_codes_per_hour_count_only_this_chats_codes_of_the_last_hour(conn, clock):
    for _ in range(access.MAX_CODES_PER_HOUR):
        access.issue_code(OTHER, "o@company.ru", now=clock.now)
    for _ in range(access.MAX_CODES_PER_HOUR - 1):
        access.issue_code(CHAT, "a@company.ru", now=clock.now)
    clock.advance(hours=1)  # the first ones are exactly an hour old: no longer counted
    for _ in range(access.MAX_CODES_PER_HOUR):
        access.issue_code(CHAT, "a@company.ru", now=clock.now)
    with pytest.raises(Locked) as err:
        access.issue_code(CHAT, "a@company.ru", now=clock.now)
    assert err.value.details["until"] == clock.now + access.LOCK_PERIOD
    # The lock voided this chat's codes only.
    assert all(c.used_at is not None for c in codes_of(CHAT))
    assert [c.used_at for c in codes_of(OTHER)][-1] is None
    assert access.locked_until(OTHER, clock.now) is None
    assert access.locked_until(CHAT, clock.now) == clock.now + access.LOCK_PERIOD
    lock = AuditLog.get(AuditLog.action == access.LOCKED)
    assert (lock.actor_telegram_id, json.loads(lock.details)) == (
        CHAT, {"reason": "too many codes"})
    with pytest.raises(Locked):
        access.check_code(CHAT, "000000", now=clock.now)
    clock.advance(hours=1)
    assert access.locked_until(CHAT, clock.now) is None
    assert access.issue_code(CHAT, "a@company.ru", now=clock.now).code is not None


def test_a_locked_chat_gets_no_code_and_no_row(conn, clock):
    for _ in range(access.MAX_WRONG_CODES - 1):
        access.code_failed(CHAT, clock.now, source="email")
    rows = RegistrationCode.select().count()
    with pytest.raises(Locked):
        access.code_failed(CHAT, clock.now, source="email")
    with pytest.raises(Locked) as err:
        access.issue_code(CHAT, "a@company.ru", now=clock.now + timedelta(minutes=59))
    assert err.value.details["until"] == clock.now + access.LOCK_PERIOD
    assert RegistrationCode.select().count() == rows


def test_wrong_codes_count_down_per_chat_and_reset_after_a_right_code(conn, clock):
    issued = access.issue_code(CHAT, "a@company.ru", now=clock.now)
    access.code_failed(OTHER, clock.now, source="email")
    left = []
    for _ in range(3):
        with pytest.raises(WrongCode) as err:
            access.check_code(CHAT, "bad", now=clock.now)
        left.append(err.value.details["left"])
    assert left == [4, 3, 2]
    assert access.wrong_codes(CHAT, clock.now) == 3
    assert access.wrong_codes(OTHER, clock.now) == 1
    assert access.check_code(CHAT, " ".join(issued.code), now=clock.now) == "a@company.ru"
    assert access.wrong_codes(CHAT, clock.now) == 0
    # The right code is used once; another attempt finds no code.
    with pytest.raises(CodeExpired):
        access.check_code(CHAT, issued.code, now=clock.now)
    failed = AuditLog.get(AuditLog.action == access.CODE_FAILED)
    assert json.loads(failed.details) == {"source": "email"}
    assert failed.actor_telegram_id in (CHAT, OTHER)


def test_the_fifth_wrong_code_locks_at_five_not_before(conn, clock):
    for expected in range(access.MAX_WRONG_CODES - 1, 0, -1):
        assert access.code_failed(CHAT, clock.now, source="developer") == expected
        clock.advance(minutes=1)
    assert access.locked_until(CHAT, clock.now) is None
    with pytest.raises(Locked) as err:
        access.code_failed(CHAT, clock.now, source="developer")
    assert err.value.details["until"] == clock.now + access.LOCK_PERIOD
    assert access.locked_until(CHAT, clock.now) == clock.now + access.LOCK_PERIOD
    lock = AuditLog.get(AuditLog.action == access.LOCKED)
    assert (lock.actor_telegram_id, json.loads(lock.details)) == (CHAT, {"reason": "wrong codes"})
    # Failures older than the period no longer count.
    clock.advance(hours=2)
    assert access.wrong_codes(CHAT, clock.now) == 0
    assert access.code_failed(CHAT, clock.now, source="developer") == 4


def test_events_in_the_future_of_the_clock_do_not_count(conn, clock):
    access.code_failed(CHAT, clock.now + timedelta(minutes=5), source="email")
    assert access.wrong_codes(CHAT, clock.now) == 0
    assert access.wrong_codes(CHAT, clock.now + timedelta(minutes=5)) == 1


def test_an_expired_code_is_voided_alone(conn, clock):
    mine = access.issue_code(CHAT, "a@company.ru", now=clock.now)
    theirs = access.issue_code(OTHER, "o@company.ru", now=clock.now)
    later = clock.now + access.CODE_TTL
    with pytest.raises(CodeExpired):
        access.check_code(CHAT, mine.code, now=later)
    assert RegistrationCode.get_by_id(mine.id).used_at == later
    assert RegistrationCode.get_by_id(theirs.id).used_at is None
    # One second before the end it still works.
    assert access.check_code(OTHER, theirs.code,
                             now=later - timedelta(seconds=1)) == "o@company.ru"


def test_drop_code_forgets_that_code_only(conn, clock):
    mine = access.issue_code(CHAT, "a@company.ru", now=clock.now)
    theirs = access.issue_code(OTHER, "o@company.ru", now=clock.now)
    access.drop_code(mine.id)
    assert [r.id for r in RegistrationCode.select()] == [theirs.id]


def test_code_goes_only_to_an_eligible_address(seed, clock):
    seed.person(OTHER, "taken@company.ru")
    seed.person(None, "imported@company.ru")
    gone = seed.person(CHAT + 10, "gone@company.ru")
    Person.update(deleted_at=clock.now).where(Person.id == gone.id).execute()
    assert access.may_receive_code(CHAT, "new@company.ru") is True
    assert access.may_receive_code(CHAT, "imported@company.ru") is True
    assert access.may_receive_code(CHAT, "taken@company.ru") is False
    assert access.may_receive_code(OTHER, "taken@company.ru") is True
    assert access.may_receive_code(CHAT, "gone@company.ru") is False
    assert access.may_receive_code(CHAT + 10, "new@company.ru") is False
    assert access.issue_code(CHAT, "taken@company.ru", now=clock.now).code is None
    assert access.issue_code(CHAT, "new@company.ru", now=clock.now).code is not None


# --- approval --------------------------------------------------------------------------------


def ask(telegram_id: int, email: str, now) -> AccessRequest:
    """A pending request."""
    request = access.request_access(telegram_id, email, name=f"N{telegram_id}",
                                    username=f"u{telegram_id}", now=now)
    assert request is not None
    return request


def test_requests_per_hour_count_only_that_account(seed, clock):
    for telegram_id in (OTHER, OTHER + 1):
        ask(telegram_id, f"{telegram_id}@company.ru", clock.now)
    first = ask(CHAT, "a@company.ru", clock.now)
    assert access.pending_request(CHAT).id == first.id
    assert access.pending_request(CHAT + 99) is None
    access.decide(first.id, False, actor=None, actor_name="A", actor_telegram_id=1,
                  now=clock.now)
    assert access.pending_request(CHAT) is None
    second = ask(CHAT, "a@company.ru", clock.now)
    access.decide(second.id, False, actor=None, actor_name="A", actor_telegram_id=1,
                  now=clock.now)
    third = ask(CHAT, "a@company.ru", clock.now)
    access.decide(third.id, False, actor=None, actor_name="A", actor_telegram_id=1,
                  now=clock.now)
    with pytest.raises(Locked) as err:
        ask(CHAT, "a@company.ru", clock.now)
    assert err.value.details["until"] == clock.now + access.LOCK_PERIOD
    clock.advance(hours=1)
    assert ask(CHAT, "a@company.ru", clock.now).status == access.PENDING


def test_request_marks_an_import_only_email_as_known(seed, clock):
    seed.person(None, "imported@company.ru")
    seed.person(OTHER, "registered@company.ru")
    known = ask(CHAT, "imported@company.ru", clock.now)
    fresh = ask(CHAT + 1, "new@company.ru", clock.now)
    assert known.known is True and fresh.known is False
    assert AccessRequest.get_by_id(known.id).known is True
    assert access.request_access(CHAT + 2, "registered@company.ru", name="x", username="",
                                 now=clock.now) is None
    details = [json.loads(a.details) for a in AuditLog.select().where(
        AuditLog.action == "access.requested").order_by(AuditLog.id)]
    assert details == [{"email": "imported@company.ru", "known": True},
                       {"email": "new@company.ru", "known": False}]


def test_decide_answers_that_request_only(seed, clock):
    requests = [ask(CHAT + i, f"p{i}@company.ru", clock.now) for i in range(3)]
    admin = seed.person(1)
    before = snapshot()
    decision = access.decide(requests[1].id, True, actor=admin, actor_name="Админ",
                             actor_telegram_id=1, now=clock.now)
    assert decision.person.telegram_id == CHAT + 1
    diff = changed(before)
    assert diff["AccessRequest"] == {requests[1].id}
    assert diff["Person"] == {decision.person.id}
    statuses = [r.status for r in AccessRequest.select().order_by(AccessRequest.id)]
    assert statuses == [access.PENDING, access.APPROVED, access.PENDING]
    row = AccessRequest.get_by_id(requests[1].id)
    assert (row.decided_by_id, row.decided_by_name, row.decided_at, row.updated_at) == (
        admin.id, "Админ", clock.now, clock.now)
    with pytest.raises(AlreadyDecided):
        access.decide(requests[1].id, False, actor=admin, actor_name="Админ",
                      actor_telegram_id=1, now=clock.now)
    with pytest.raises(NotFound) as missing:
        access.decide(10_000, True, actor=admin, actor_name="Админ", actor_telegram_id=1,
                      now=clock.now)
    assert missing.value.details == {"request_id": 10_000}
    audit = AuditLog.get(AuditLog.action == "access.approved")
    assert json.loads(audit.details) == {"request": requests[1].id, "email": "p1@company.ru",
                                         "telegram_id": CHAT + 1, "known": False}
    assert (audit.person_id, audit.actor_id, audit.actor_telegram_id, audit.created_at,
            audit.updated_at) == (decision.person.id, admin.id, 1, clock.now, clock.now)


def test_a_void_approval_rejects_that_request_only(seed, clock):
    requests = [ask(CHAT + i, "same@company.ru", clock.now) for i in range(2)]
    other = ask(CHAT + 5, "other@company.ru", clock.now)
    access.decide(requests[0].id, True, actor=None, actor_name="A", actor_telegram_id=1,
                  now=clock.now)
    with pytest.raises(NotAllowed) as err:
        access.decide(requests[1].id, True, actor=None, actor_name="A", actor_telegram_id=1,
                      now=clock.now)
    assert err.value.details["reason"] == "email_unavailable"
    assert err.value.details["request"].status == access.REJECTED
    statuses = [r.status for r in AccessRequest.select().order_by(AccessRequest.id)]
    assert statuses == [access.APPROVED, access.REJECTED, access.PENDING]
    assert AccessRequest.get_by_id(other.id).status == access.PENDING
    assert AuditLog.select().where(AuditLog.action == "access.void").count() == 1


def test_notices_are_saved_on_that_request_only(seed, clock):
    first = ask(CHAT, "a@company.ru", clock.now)
    second = ask(OTHER, "b@company.ru", clock.now)
    access.save_notices(first.id, [(1, 10), (2, 20)])
    assert access.notices_of(AccessRequest.get_by_id(first.id)) == [(1, 10), (2, 20)]
    assert access.notices_of(AccessRequest.get_by_id(second.id)) == []


def test_held_count_counts_open_loans_of_that_email(seed, clock):
    ivan = seed.person(None, "ivan@company.ru")
    olga = seed.person(None, "olga@company.ru")
    for number in (1, 2):
        seed.loan(seed.device(number), ivan)
    seed.loan(seed.device(3), olga)
    returned = seed.device(4)
    seed.loan(returned, ivan)
    loans.return_device(returned.id, ivan, now=clock.now)
    assert access.held_count("ivan@company.ru") == 2
    assert access.held_count("olga@company.ru") == 1
    assert access.held_count("nobody@company.ru") == 0


# --- deleted people --------------------------------------------------------------------------


def test_deleted_people_newest_first_paged(seed, clock):
    people = [seed.person(i) for i in range(1, 6)]
    seed.person(99)  # active: never listed
    for minutes, person in zip((3, 1, 2, 2), people[:4], strict=True):
        Person.update(deleted_at=clock.now + timedelta(minutes=minutes)).where(
            Person.id == person.id).execute()
    rows, page, pages, total = access.deleted_people(1, 3)
    assert [r.id for r in rows] == [people[0].id, people[3].id, people[2].id]
    assert (page, pages, total) == (1, 2, 4)
    rows, page, pages, total = access.deleted_people(9, 3)
    assert [r.id for r in rows] == [people[1].id] and page == 2
    rows, page, _, _ = access.deleted_people(0, 3)
    assert page == 1
    assert access.deleted_people()[2:] == (1, 4)
    Person.update(deleted_at=None).execute()
    assert access.deleted_people(1, 3) == ([], 1, 1, 0)


def test_deleted_people_come_eight_to_a_page(seed, clock):
    people = [seed.person(i) for i in range(1, 10)]
    for minutes, person in enumerate(people):
        Person.update(deleted_at=clock.now + timedelta(minutes=minutes)).where(
            Person.id == person.id).execute()
    rows, page, pages, total = access.deleted_people()
    assert [r.id for r in rows] == [p.id for p in reversed(people[1:])]
    assert (page, pages, total) == (1, 2, 9)


def test_restore_brings_back_that_person_only(seed, clock):
    people = [seed.person(i) for i in range(1, 4)]
    Person.update(deleted_at=clock.now).execute()
    admin = seed.person(9)
    with pytest.raises(NotFound) as missing:
        access.deleted_person(admin.id)
    assert missing.value.details == {"person_id": admin.id}
    assert access.deleted_person(people[1].id).id == people[1].id
    before = snapshot()
    clock.advance(minutes=5)
    restored = access.restore(people[1].id, actor=admin, now=clock.now)
    assert restored.deleted_at is None and restored.updated_at == clock.now
    assert changed(before) == {"Person": {people[1].id}}
    with pytest.raises(NotFound):
        access.restore(people[1].id, actor=admin, now=clock.now)
    with pytest.raises(NotFound) as missing:
        access.restore(admin.id, actor=admin, now=clock.now)
    assert missing.value.details == {"person_id": admin.id}
    audit = AuditLog.get(AuditLog.action == "person.restored")
    assert audit.person_id == people[1].id and audit.actor_id == admin.id


# --- what the code rows and events hold --------------------------------------------------------


def test_a_code_row_is_salted_hashed_and_stamped(conn, clock):
    issued = access.issue_code(CHAT, "a@company.ru", now=clock.now)
    row = RegistrationCode.get_by_id(issued.id)
    assert len(row.salt) == 32 and len(row.code_hash) == 64
    assert (row.chat_id, row.email, row.created_at, row.updated_at, row.used_at) == (
        CHAT, "a@company.ru", clock.now, clock.now, None)
    assert row.code_hash == access._digest(row.salt, CHAT, "a@company.ru", issued.code)


def test_codes_use_the_whole_six_digit_range(conn, clock):
    codes = [access.issue_code(CHAT + i, "a@company.ru", now=clock.now).code for i in range(20)]
    assert all(len(code) == access.CODE_DIGITS and code.isdigit() for code in codes)
    # Twenty codes all below 1,000 would happen once in 10^60 runs.
    assert max(int(code) for code in codes) >= 1000


def test_the_newest_unused_code_counts_and_only_it_is_used_up(conn, clock):
    older = access.issue_code(CHAT, "a@company.ru", now=clock.now)
    newer = access.issue_code(CHAT, "a@company.ru", now=clock.now)
    theirs = access.issue_code(OTHER, "o@company.ru", now=clock.now)
    # Two unused codes of one chat, as two racing requests could leave them.
    RegistrationCode.update(used_at=None).where(RegistrationCode.id == older.id).execute()
    if newer.code != older.code:
        with pytest.raises(WrongCode):
            access.check_code(CHAT, older.code, now=clock.now)
    assert access.check_code(CHAT, newer.code, now=clock.now) == "a@company.ru"
    used = {r.id: r.used_at for r in RegistrationCode.select()}
    assert used == {older.id: None, newer.id: clock.now, theirs.id: None}
    ok = AuditLog.get(AuditLog.action == access.CODE_OK)
    assert (ok.actor_telegram_id, ok.created_at, ok.updated_at) == (CHAT, clock.now, clock.now)


def test_a_wrong_email_code_is_counted_as_such(conn, clock):
    access.issue_code(CHAT, "a@company.ru", now=clock.now)
    access.code_failed(OTHER, clock.now, source="developer")
    with pytest.raises(WrongCode):
        access.check_code(CHAT, "not it", now=clock.now)
    events = [(a.actor_telegram_id, json.loads(a.details), a.created_at, a.updated_at)
              for a in AuditLog.select().where(AuditLog.action == access.CODE_FAILED)
              .order_by(AuditLog.id)]
    assert events == [(OTHER, {"source": "developer"}, clock.now, clock.now),
                      (CHAT, {"source": "email"}, clock.now, clock.now)]


def test_a_locked_chat_is_told_until_when(conn, clock):
    for _ in range(access.MAX_WRONG_CODES - 1):
        access.code_failed(CHAT, clock.now, source="email")
    with pytest.raises(Locked):
        access.code_failed(CHAT, clock.now, source="email")
    with pytest.raises(Locked) as err:
        access.check_code(CHAT, "123456", now=clock.now + timedelta(minutes=10))
    assert err.value.details == {"until": clock.now + access.LOCK_PERIOD}


def test_a_request_row_and_its_audit_are_stamped(seed, clock):
    request = ask(CHAT, "a@company.ru", clock.now)
    row = AccessRequest.get_by_id(request.id)
    assert (row.telegram_id, row.email, row.name, row.username, row.status, row.created_at,
            row.updated_at) == (CHAT, "a@company.ru", f"N{CHAT}", f"u{CHAT}", access.PENDING,
                                clock.now, clock.now)
    audit = AuditLog.get(AuditLog.action == "access.requested")
    assert (audit.actor_telegram_id, audit.created_at, audit.updated_at) == (
        CHAT, clock.now, clock.now)


def test_recent_events_are_read_newest_first_by_time(conn, clock):
    access.code_failed(CHAT, clock.now, source="email")
    # Written after the failure but stamped before it (a slower message of the same chat).
    access._event(access.CODE_OK, CHAT, clock.now - timedelta(minutes=1))
    assert access.wrong_codes(CHAT, clock.now) == 1
    issued = access.issue_code(CHAT, "a@company.ru", now=clock.now)
    assert issued.email == "a@company.ru"


def test_active_by_chat_finds_active_people_of_those_chats_only(seed, clock):
    ann, bob = seed.person(1), seed.person(2)
    gone = seed.person(3)
    Person.update(deleted_at=clock.now).where(Person.id == gone.id).execute()
    seed.person(4)
    seed.person(None, "known@company.ru")
    found = access.active_by_chat(iter([1, 2, 3, 5]))
    assert {chat: person.id for chat, person in found.items()} == {1: ann.id, 2: bob.id}
    assert access.active_by_chat([]) == {}
