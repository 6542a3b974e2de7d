"""inventory/import_apply.py against mutants: an import writes only the rows its file names.

Every test runs on several devices, people and loans, open and returned ones, so a dropped or
weakened WHERE clause, a lost filter in the query that decides which loans to close or change,
or a wrong count or audit detail changes rows the test names as untouched (see
docs/mutation.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from test_write_filters import changed, snapshot

from inventory import import_apply, loans
from inventory.errors import Conflict, NotAllowed, NotFound
from inventory.import_apply import apply_plan, cleared_holds, existing_data
from inventory.importing import CANONICAL_HEADER, ImportPlan, build_plan
from models import AuditLog, Category, Device, Loan, Person, QueueEntry

TODAY = date(2026, 11, 26)


def line(number: int, email: str = "", place: str = "", due: str = "", *,
         name: str | None = None, category: str = "Онлайн-касса", serial: str | None = None,
         registered: str = "", firmware: str = "", comment: str = "") -> list[str]:
    """One file row under the canonical header; by default the device as `World` made it."""
    return [str(number), name or f"Касса {number}", category, serial or f"SN-{number:05d}",
            registered, firmware, comment, email, place, due]


def plan_of(*rows: list[str]) -> ImportPlan:
    """A valid plan of these rows against the database as it is."""
    plan = build_plan([list(CANONICAL_HEADER), *rows], existing_data(), TODAY)
    assert plan.ok, plan.errors
    return plan


def audit(action: str) -> list[tuple[int | None, int | None, dict[str, Any]]]:
    """(device, person, details) of the audit rows of one action, in order."""
    return [(a.device_id, a.person_id, json.loads(a.details))
            for a in AuditLog.select().where(AuditLog.action == action).order_by(AuditLog.id)]


def actors(*actions: str) -> set[int | None]:
    """The actors of the audit rows of these actions."""
    return {a.actor_id for a in AuditLog.select().where(AuditLog.action.in_(actions))}


@dataclass
class World:
    """Six devices, three people, the acting admin; open and returned loans.

    d[0]: olga had it (returned), ivan holds it (склад, due 1.12).
    d[1]: olga holds it (офис, due 2.12).
    d[2]: ivan had it (returned, «старое место»), ivan holds it again (дома, due 3.12).
    d[3]: ivan had it (returned); free.  d[4], d[5]: free, never lent.
    """

    d: list[Device]
    ivan: Person
    olga: Person
    petr: Person
    admin: Person
    history: list[Loan]  # the returned loans of d[0], d[2], d[3]
    open: dict[int, Loan]  # by device index


@pytest.fixture
def world(backend, seed, clock) -> World:
    """The shared world of every test here (see World)."""
    seed.category("Сканер")
    d = [seed.device(n, f"Касса {n}") for n in range(1, 7)]
    ivan = seed.person(101, "ivan@company.ru")
    olga = seed.person(102, "olga@company.ru")
    petr = seed.person(103, "petr@company.ru")
    admin = seed.person(900, "admin@company.ru", name="Админ")
    earlier = clock.now - timedelta(days=10)
    history = []
    for device, person, place in ((d[0], olga, ""), (d[2], ivan, "старое место"),
                                  (d[3], ivan, "")):
        loans.take(device.id, person, now=earlier, place=place)
        history.append(loans.return_device(device.id, person, now=earlier + timedelta(days=1)))
    open_ = {
        0: seed.loan(d[0], ivan, due=date(2026, 12, 1), place="склад"),
        1: seed.loan(d[1], olga, due=date(2026, 12, 2), place="офис"),
        2: seed.loan(d[2], ivan, due=date(2026, 12, 3), place="дома"),
    }
    clock.advance(hours=1)
    return World(d, ivan, olga, petr, admin, history, open_)


def ids(*rows: Any) -> set[int]:
    """The ids of rows."""
    return {row.id for row in rows}


def new_loans(before: dict[str, dict[int, dict[str, Any]]]) -> dict[int, Loan]:
    """The loans created since `before`, by device id."""
    return {loan.device_id: loan for loan in
            Loan.select().where(Loan.id.not_in(list(before["Loan"])))}


# --- what the plan is made against -------------------------------------------------------------


def test_existing_data_knows_open_loans_only(world):
    data = existing_data()
    assert data.open_loans == {1: "ivan@company.ru", 2: "olga@company.ru", 3: "ivan@company.ru"}
    assert data.devices_by_number == {n: f"Касса {n}" for n in range(1, 7)}
    assert data.numbers_by_serial == {f"sn-{n:05d}": n for n in range(1, 7)}
    assert data.categories == {"онлайн-касса": "Онлайн-касса", "сканер": "Сканер"}


# --- loans: close, give, change ------------------------------------------------------------------


def test_new_holders_close_only_the_open_loans_of_their_devices(world, clock):
    plan = plan_of(line(1, "olga@company.ru", "у окна", "10.12.2026"),
                   line(2, "olga@company.ru"), line(4, "petr@company.ru"), line(5))
    assert [row.number for row in plan.loans] == [1, 4]
    before = snapshot()
    result = apply_plan(plan, world.admin, clock.now)
    created = new_loans(before)
    assert changed(before) == {"Loan": ids(world.open[0], *created.values())}
    assert (result.loans_closed, result.loans_created, result.people_created) == (1, 2, 0)
    assert (result.created, result.updated, result.unchanged) == (0, 0, 4)
    closed = Loan.get_by_id(world.open[0].id)
    assert (closed.returned_at, closed.updated_at) == (clock.now, clock.now)
    given = created[world.d[0].id]
    assert (given.person_id, given.place, given.due_date, given.taken_at, given.returned_at,
            given.assigned_by_id, given.reminded_on) == (
        world.olga.id, "у окна", date(2026, 12, 10), clock.now, None, world.admin.id, None)
    assert (created[world.d[3].id].person_id, created[world.d[3].id].place) == (world.petr.id, "")
    assert audit("loan.unassigned") == [(world.d[0].id, world.ivan.id, {
        "device_number": 1, "person_email": "ivan@company.ru", "loan_id": world.open[0].id,
        "source": "import"})]
    assert audit("loan.assigned") == [
        (world.d[0].id, world.olga.id, {
            "device_number": 1, "device_name": "Касса 1", "person_email": "olga@company.ru",
            "place": "у окна", "due_date": "2026-12-10", "source": "import"}),
        (world.d[3].id, world.petr.id, {
            "device_number": 4, "device_name": "Касса 4", "person_email": "petr@company.ru",
            "place": "", "due_date": None, "source": "import"}),
    ]
    assert actors("loan.unassigned", "loan.assigned") == {world.admin.id}


def test_an_import_without_an_actor_assigns_by_nobody(world, clock):
    before = snapshot()
    apply_plan(plan_of(line(5, "petr@company.ru")), None, clock.now)
    assert new_loans(before)[world.d[4].id].assigned_by_id is None
    assert AuditLog.get(AuditLog.action == "import.applied").actor_id is None


def test_the_holder_named_again_changes_only_their_open_loan(world, clock):
    # Olga's address is stored with capitals: the file's lower-case one still names her.
    Person.update(email="Olga@Company.ru").where(Person.id == world.olga.id).execute()
    plan = plan_of(line(1, "ivan@company.ru", "склад", "01.12.2026"),  # as it is
                   line(2, "olga@company.ru", "", "12.12.2026"),  # new due date only
                   line(3, "ivan@company.ru", "офис 5"),  # new place only
                   line(4, "ivan@company.ru", "склад 2"))  # had it once: a new loan
    assert [row.number for row in plan.loans] == [4]
    before = snapshot()
    result = apply_plan(plan, world.admin, clock.now)
    created = new_loans(before)
    assert changed(before) == {"Loan": ids(world.open[1], world.open[2], *created.values())}
    assert (result.updated, result.unchanged, result.loans_closed) == (2, 2, 0)
    assert [(loan.place, loan.due_date, loan.updated_at) for loan in
            (Loan.get_by_id(world.open[1].id), Loan.get_by_id(world.open[2].id))] == [
        ("офис", date(2026, 12, 12), clock.now), ("офис 5", date(2026, 12, 3), clock.now)]
    assert created[world.d[3].id].place == "склад 2"
    assert audit("loan.changed") == [
        (world.d[1].id, None, {"device_number": 2, "person_email": "Olga@Company.ru",
                               "source": "import", "due_date": "2026-12-12"}),
        (world.d[2].id, None, {"device_number": 3, "person_email": "ivan@company.ru",
                               "source": "import", "place": "офис 5"}),
    ]
    assert actors("loan.changed") == {world.admin.id}


def test_a_loan_change_after_an_unchanged_loan_and_a_device_outside_the_file(world, clock):
    # The open loans come in id order: d[0] (not in the file), d[1] (as it is), d[2] (changed).
    before = snapshot()
    result = apply_plan(plan_of(line(2, "olga@company.ru", "офис", "02.12.2026"),
                                line(3, "ivan@company.ru", "", "24.12.2026")),
                        world.admin, clock.now)
    assert changed(before) == {"Loan": ids(world.open[2])}
    assert Loan.get_by_id(world.open[2].id).due_date == date(2026, 12, 24)
    assert (result.updated, result.unchanged) == (1, 1)


# --- people ----------------------------------------------------------------------------------


def test_people_named_by_the_file_are_created_or_restored_and_no_one_else(world, seed, clock):
    gone = seed.person(None, "gone@company.ru")
    also_gone = seed.person(None, "also.gone@company.ru")
    deleted_at = clock.now - timedelta(days=3)
    Person.update(deleted_at=deleted_at).where(Person.id.in_([gone.id, also_gone.id])).execute()
    before = snapshot()
    result = apply_plan(plan_of(line(4, "new@company.ru"), line(5, "gone@company.ru"),
                                line(6, "petr@company.ru")), world.admin, clock.now)
    newcomer = Person.get(Person.email == "new@company.ru")
    diff = changed(before)
    assert diff["Person"] == ids(gone, newcomer)
    assert set(diff) == {"Person", "Loan"}
    assert result.people_created == 1
    restored = Person.get_by_id(gone.id)
    assert (restored.deleted_at, restored.updated_at) == (None, clock.now)
    assert Person.get_by_id(also_gone.id).deleted_at == deleted_at
    assert (newcomer.telegram_id, newcomer.name, newcomer.username, newcomer.comment,
            newcomer.reachable, newcomer.is_admin, newcomer.created_at, newcomer.updated_at,
            newcomer.deleted_at) == (None, "", "", "", True, False, clock.now, clock.now, None)
    assert {loan.device_id: loan.person_id for loan in new_loans(before).values()} == {
        world.d[3].id: newcomer.id, world.d[4].id: gone.id, world.d[5].id: world.petr.id}
    assert audit("person.created") == [
        (None, newcomer.id, {"person_email": "new@company.ru", "source": "import"})]
    assert audit("person.restored") == [
        (None, gone.id, {"person_email": "gone@company.ru", "source": "import"})]
    assert actors("person.created", "person.restored", "loan.assigned") == {world.admin.id}


def test_two_new_people_each_get_their_own_loan(world, clock):
    before = snapshot()
    result = apply_plan(plan_of(line(5, "b.new@company.ru"), line(6, "a.new@company.ru")),
                        world.admin, clock.now)
    assert result.people_created == 2
    holders = {device_id: loan.person.email for device_id, loan in new_loans(before).items()}
    assert holders == {world.d[4].id: "b.new@company.ru", world.d[5].id: "a.new@company.ru"}
    assert [details["person_email"] for _, _, details in audit("person.created")] == [
        "a.new@company.ru", "b.new@company.ru"]


# --- locks and loans changed since the preview ----------------------------------------------------


def test_only_the_named_existing_devices_are_locked(world, clock, monkeypatch):
    locked: list[list[int]] = []
    real = import_apply.lock_devices

    def spy(device_ids: list[int]) -> int:
        locked.append(sorted(device_ids))
        return real(device_ids)

    monkeypatch.setattr(import_apply, "lock_devices", spy)
    apply_plan(plan_of(line(3), line(1), line(7)), world.admin, clock.now)
    assert locked == [sorted([world.d[0].id, world.d[2].id])]
    locked.clear()
    apply_plan(plan_of(line(8)), world.admin, clock.now)  # nothing existing: no lock at all
    assert locked == []


def test_seen_loans_refuse_only_changes_on_the_named_devices(world, clock):
    seen = existing_data().open_loans
    plan = plan_of(line(1), line(2, "olga@company.ru", "склад"), line(4))
    # Meanwhile d[5], which the file does not name, is taken: no conflict.
    loans.take(world.d[5].id, world.petr, now=clock.now)
    result = apply_plan(plan, world.admin, clock.now, seen_loans=seen)
    assert (result.updated, result.unchanged) == (1, 2)
    # Meanwhile olga returns d[1] and petr takes it: the plan would change a loan it never saw.
    seen = existing_data().open_loans
    plan = plan_of(line(1), line(2, "olga@company.ru", "дома"), line(4))
    loans.return_device(world.d[1].id, world.olga, now=clock.now)
    loans.take(world.d[1].id, world.petr, now=clock.now)
    before = snapshot()
    with pytest.raises(Conflict) as caught:
        apply_plan(plan, world.admin, clock.now, seen_loans=seen)
    assert caught.value.details == {"reason": "loans changed", "numbers": [2]}
    assert changed(before) == {}


def test_the_conflict_names_the_first_twenty_changed_devices_in_order(world, seed, clock):
    for n in range(30, 7, -1):
        seed.loan(seed.device(n, f"Касса {n}"), world.petr)
    plan = plan_of(*(line(n) for n in range(8, 31)))
    with pytest.raises(Conflict) as caught:
        apply_plan(plan, world.admin, clock.now, seen_loans={})
    assert caught.value.details == {"reason": "loans changed", "numbers": list(range(8, 28))}


# --- devices -----------------------------------------------------------------------------------


def test_updates_write_each_devices_own_changes(world, seed, clock):
    seed.device(7, "Касса 7", firmware="1.0", comment="старый", registered_on=date(2020, 1, 1))
    rows = [line(1, "ivan@company.ru", name="Касса один"),
            line(2, "olga@company.ru", firmware="2.0"),
            line(3, "ivan@company.ru", name="Касса три", serial="NEW-3"),
            line(4, category="Сканер"),
            line(5, registered="02.03.2021", comment="с блоком"),
            line(6),
            line(7, registered="", firmware="", comment="")]  # empty cells keep the values
    before = snapshot()
    result = apply_plan(plan_of(*rows), world.admin, clock.now)
    assert (result.updated, result.unchanged) == (5, 2)
    assert changed(before) == {"Device": ids(*world.d[:5])}
    scanner = Category.get(Category.name == "Сканер").id
    register = Category.get(Category.name == "Онлайн-касса").id
    got = {d.number: (d.name, d.category_id, d.serial, d.registered_on, d.firmware, d.comment,
                      d.search_text, d.updated_at)
           for d in Device.select().where(Device.number <= 5)}
    stamp = clock.now
    assert got == {
        1: ("Касса один", register, "SN-00001", None, "", "", "касса один\nsn-00001", stamp),
        2: ("Касса 2", register, "SN-00002", None, "2.0", "", "касса 2\nsn-00002", stamp),
        3: ("Касса три", register, "NEW-3", None, "", "", "касса три\nnew-3", stamp),
        4: ("Касса 4", scanner, "SN-00004", None, "", "", "касса 4\nsn-00004", stamp),
        5: ("Касса 5", register, "SN-00005", date(2021, 3, 2), "", "с блоком",
            "касса 5\nsn-00005", stamp),
    }
    assert audit("device.updated") == [
        (world.d[0].id, None, {"device_number": 1, "device_name": "Касса один",
                               "source": "import",
                               "changes": {"name": ["Касса 1", "Касса один"]}}),
        (world.d[1].id, None, {"device_number": 2, "device_name": "Касса 2", "source": "import",
                               "changes": {"firmware": ["", "2.0"]}}),
        (world.d[2].id, None, {"device_number": 3, "device_name": "Касса три",
                               "source": "import",
                               "changes": {"name": ["Касса 3", "Касса три"],
                                           "serial": ["SN-00003", "NEW-3"]}}),
        (world.d[3].id, None, {"device_number": 4, "device_name": "Касса 4", "source": "import",
                               "changes": {"category": [register, scanner]}}),
        (world.d[4].id, None, {"device_number": 5, "device_name": "Касса 5", "source": "import",
                               "changes": {"registered_on": [None, "2021-03-02"],
                                           "comment": ["", "с блоком"]}}),
    ]
    assert actors("device.updated") == {world.admin.id}


def test_new_devices_progress_and_the_summary(world, clock):
    progress: list[tuple[str, int, int]] = []
    logged = AuditLog.select().count()
    plan = plan_of(line(7, "petr@company.ru", name="Новая 7", registered="01.02.2024",
                        firmware="4.5", comment="с блоком"),
                   line(8, category="Сканер", name="Новая 8"),
                   line(1, "olga@company.ru", name="Касса первая"))
    result = apply_plan(plan, world.admin, clock.now, lambda *a: progress.append(a),
                        source="devices.csv")
    assert (result.created, result.updated, result.loans_created, result.loans_closed) == (
        2, 1, 2, 1)
    count = AuditLog.select().count() - logged
    assert progress == [("devices", 2, 3), ("devices", 3, 3), ("loans", 2, 2),
                        ("audit", count, count)]
    seven = Device.get(Device.number == 7)
    assert (seven.name, seven.category.name, seven.serial, seven.registered_on, seven.firmware,
            seven.comment, seven.search_text, seven.created_at, seven.updated_at) == (
        "Новая 7", "Онлайн-касса", "SN-00007", date(2024, 2, 1), "4.5", "с блоком",
        "новая 7\nsn-00007", clock.now, clock.now)
    eight = Device.get(Device.number == 8)
    assert (eight.category.name, eight.registered_on) == ("Сканер", None)
    assert Loan.get((Loan.device == seven.id) & Loan.returned_at.is_null()).person_id == (
        world.petr.id)
    assert audit("device.created") == [
        (seven.id, None, {"device_number": 7, "device_name": "Новая 7", "source": "import"}),
        (eight.id, None, {"device_number": 8, "device_name": "Новая 8", "source": "import"})]
    assert actors("device.created") == {world.admin.id}
    summary = AuditLog.get(AuditLog.action == "import.applied")
    assert (summary.actor_id, summary.actor_telegram_id, summary.created_at) == (
        world.admin.id, 900, clock.now)
    assert json.loads(summary.details) == {
        "source": "devices.csv", "created": 2, "updated": 1, "unchanged": 0, "loans": 2,
        "loans_closed": 1, "people_created": 0}


def test_progress_of_an_import_without_new_devices_or_loans(world, clock):
    progress: list[tuple[str, int, int]] = []
    apply_plan(plan_of(line(1, name="Касса первая"), line(2)), world.admin, clock.now,
               lambda *a: progress.append(a))
    assert progress == [("devices", 2, 2), ("audit", 2, 2)]
    apply_plan(plan_of(line(1)), world.admin, clock.now)  # no progress callback: no error


# --- refusals -----------------------------------------------------------------------------------


def test_a_plan_with_errors_is_refused_with_its_count(world, clock):
    plan = build_plan([list(CANONICAL_HEADER), line(1, registered="31.02.2024"),
                       line(2, category="Пылесос"), line(9)], existing_data(), TODAY)
    before, logged = snapshot(), AuditLog.select().count()
    with pytest.raises(NotAllowed) as caught:
        apply_plan(plan, world.admin, clock.now)
    assert caught.value.details == {"reason": "errors", "count": 2}
    assert changed(before) == {} and AuditLog.select().count() == logged


def test_what_changed_since_the_preview_is_refused_with_its_details(world, seed, clock):
    plan = plan_of(line(9, category="Сканер"), line(1))
    Category.update(name="Сканеры").where(Category.name == "Сканер").execute()
    before = snapshot()
    with pytest.raises(NotFound) as caught:
        apply_plan(plan, world.admin, clock.now)
    assert caught.value.details == {"category": "Сканер"}
    Category.update(name="Сканер").where(Category.name == "Сканеры").execute()
    seed.device(9, "Успели раньше", serial="OTHER-9")
    with pytest.raises(Conflict) as caught:
        apply_plan(plan, world.admin, clock.now)
    assert caught.value.details == {"field": "number", "value": 9}
    plan = plan_of(line(5), line(6))
    Device.delete().where(Device.number == 6).execute()
    with pytest.raises(NotFound) as caught:
        apply_plan(plan, world.admin, clock.now)
    assert caught.value.details == {"number": 6}
    # Only what this test did itself: the category renamed back, device 9 added, 6 deleted.
    diff = changed(before)
    assert set(diff) == {"Category", "Device"}
    assert diff["Device"] == {world.d[5].id, Device.get(Device.number == 9).id}


def test_a_serial_taken_meanwhile_is_a_device_conflict(world, seed, clock):
    plan = plan_of(line(9, serial="E-9"))
    seed.device(10, "Успели раньше", serial="E-9")
    before = snapshot()
    with pytest.raises(Conflict) as caught:
        apply_plan(plan, world.admin, clock.now)
    assert caught.value.details["field"] == "device"
    assert 0 < len(caught.value.details["value"]) <= 200
    assert changed(before) == {}


# --- holds the import ended -----------------------------------------------------------------------


def test_cleared_holds_name_the_person_the_device_and_the_new_holder(world, clock):
    assert cleared_holds(import_apply.ImportResult()) == []
    live = clock.now + timedelta(hours=5)
    for device, person in ((world.d[4], world.ivan), (world.d[5], world.olga),
                           (world.d[3], world.olga)):
        QueueEntry.create(device=device, person=person, hold_until=live)
    result = apply_plan(plan_of(line(5, "petr@company.ru"), line(6, "ivan@company.ru")),
                        world.admin, clock.now)
    assert result.holds_cleared == [(world.ivan.id, world.d[4].id, world.petr.id),
                                     (world.olga.id, world.d[5].id, world.ivan.id)]
    assert [(p.email, d.number, h.email) for p, d, h in cleared_holds(result)] == [
        ("ivan@company.ru", 5, "petr@company.ru"), ("olga@company.ru", 6, "ivan@company.ru")]
    assert audit("hold.cleared") == [
        (world.d[4].id, world.ivan.id, {"device_number": 5, "source": "import"}),
        (world.d[5].id, world.olga.id, {"device_number": 6, "source": "import"})]
    assert actors("hold.cleared") == {world.admin.id}
    assert QueueEntry.get(QueueEntry.device == world.d[3].id).hold_until == live


def test_loans_dates_are_stored_as_given(world, clock):
    moment = datetime(2026, 11, 26, 10, 30)
    before = snapshot()
    apply_plan(plan_of(line(5, "ivan@company.ru", "", "05.01.2027")), world.admin, moment)
    loan = new_loans(before)[world.d[4].id]
    assert (loan.taken_at, loan.created_at, loan.updated_at, loan.due_date) == (
        moment, moment, moment, date(2027, 1, 5))
