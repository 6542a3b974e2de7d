"""The small core modules against mutants: dialogues, locks, local time, dates, errors, session.

Writes run among several rows (chats, devices, people) so a lost filter changes a row that the
test names as untouched.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import peewee as pw
import pytest
from conftest import T0

from inventory import dialogs, session
from inventory.clock import local_date, local_time
from inventory.dates import (
    latest_due,
    parse_date,
    parse_future_date,
    parse_recorded_date,
)
from inventory.errors import (
    DateTooFar,
    DomainError,
    InvalidDate,
    NotAllowed,
    NotFound,
    PastDate,
)
from inventory.locks import lock_device, lock_devices, lock_person
from models import Device, DialogState, Person, db

TODAY = date(2026, 11, 26)


# --- dialogs.py ------------------------------------------------------------------------------


def stored() -> dict[int, tuple[str | None, str]]:
    """Every stored dialogue row: chat id -> (state, raw data)."""
    return {row.chat_id: (row.state, row.data) for row in DialogState.select()}


def test_save_upserts_only_that_chat_and_keeps_text_readable(backend, conn) -> None:
    """save() writes the chat's own row (insert, then update) as JSON with plain Cyrillic."""
    dialogs.save(1, "ask_name", {"name": "Анна"})
    dialogs.save(2, "ask_date", {"due": date(2026, 12, 1), "n": 3})
    dialogs.save(3, None, {})
    dialogs.save(2, "confirm", {"due": date(2026, 12, 2)})
    assert stored() == {1: ("ask_name", '{"name": "Анна"}'),
                        2: ("confirm", '{"due": "2026-12-02"}'),
                        3: (None, "{}")}
    assert dialogs.load(1) == ("ask_name", {"name": "Анна"})
    assert dialogs.load(2) == ("confirm", {"due": "2026-12-02"})
    assert dialogs.load(3) == (None, {})
    assert dialogs.load(4) == (None, {})


def test_save_stamps_the_row_it_writes_and_keeps_its_creation(backend, conn, monkeypatch) -> None:
    """The upsert stamps created_at on insert and updated_at on every save of that chat only."""
    first, later = datetime(2026, 11, 30, 9, 0), datetime(2026, 12, 1, 18, 30)
    monkeypatch.setattr(dialogs, "utcnow", lambda: first)
    dialogs.save(1, "a", {})
    dialogs.save(2, "b", {})
    monkeypatch.setattr(dialogs, "utcnow", lambda: later)
    dialogs.save(2, "c", {})
    rows = {r.chat_id: (r.created_at, r.updated_at) for r in DialogState.select()}
    assert rows == {1: (first, first), 2: (first, later)}


def test_unpack_and_in_state_read_an_empty_data_text_as_no_data(backend, conn) -> None:
    """A row with empty data reads as {}; a row outside a dialogue as (None, {})."""
    DialogState.create(chat_id=7, state="s", data="")
    DialogState.create(chat_id=8, state=None, data='{"x": 1}')
    assert dialogs.load(7) == ("s", {})
    assert dialogs.load(8) == (None, {})
    assert dialogs.unpack(None) == (None, {})
    assert dialogs.in_state("s") == [(7, "s", {})]


def test_in_state_lists_only_that_state_in_row_order(backend, conn) -> None:
    """Every chat in the state, oldest row first, with its data; other states left out."""
    for chat_id, state in ((30, "wait"), (10, "other"), (20, "wait"), (40, None), (5, "wait")):
        dialogs.save(chat_id, state, {"chat": chat_id})
    assert dialogs.in_state("wait") == [(30, "wait", {"chat": 30}), (20, "wait", {"chat": 20}),
                                        (5, "wait", {"chat": 5})]
    assert dialogs.in_state("none") == []


def test_save_with_commits_dialogue_and_change_together(backend, conn, seed) -> None:
    """The change's result comes back; a refused change is rolled back, the dialogue kept."""
    device = seed.device(1)
    seed.device(2)

    def rename() -> int:
        return Device.update(name="Новое").where(Device.id == device.id).execute()

    assert dialogs.save_with(1, "done", {"a": 1}, rename) == 1
    assert dialogs.load(1) == ("done", {"a": 1})

    def refused() -> None:
        Device.update(name="Зря").where(Device.id == device.id).execute()
        raise NotAllowed(reason="no")

    with pytest.raises(NotAllowed) as err:
        dialogs.save_with(1, None, {}, refused)
    assert err.value.details == {"reason": "no"}
    assert dialogs.load(1) == (None, {})
    assert [d.name for d in Device.select().order_by(Device.number)] == ["Новое", "Эвотор 7.2"]


def test_save_with_lets_other_failures_roll_everything_back(backend, conn) -> None:
    """An error that is not a refusal rolls back the dialogue too."""
    dialogs.save(1, "before", {})

    def broken() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        dialogs.save_with(1, "after", {}, broken)
    assert dialogs.load(1) == ("before", {})


# --- locks.py --------------------------------------------------------------------------------


def updated_at(model: type[pw.Model]) -> dict[int, datetime]:
    """updated_at of every row of a model, by id."""
    return {row.id: row.updated_at for row in model.select()}


def test_lock_device_touches_only_that_device(backend, seed) -> None:
    """The no-op UPDATE names one device; the device comes back; a missing one is NotFound."""
    devices = [seed.device(n) for n in (1, 2, 3)]
    Device.update(updated_at=T0).execute()
    before = updated_at(Device)
    with db.atomic():
        locked = lock_device(devices[1].id)
    assert (locked.id, locked.number) == (devices[1].id, 2)
    assert updated_at(Device) == before
    with db.atomic(), pytest.raises(NotFound) as err:
        lock_device(10_000)
    assert err.value.details == {"device_id": 10_000}


def test_lock_devices_counts_the_existing_ones(backend, seed, monkeypatch) -> None:
    """Duplicates count once, missing ids not at all, over several chunks."""
    import inventory.locks

    monkeypatch.setattr(inventory.locks, "BATCH", 2)
    devices = [seed.device(n) for n in (1, 2, 3, 4, 5)]
    ids = [d.id for d in devices]
    with db.atomic():
        assert lock_devices([ids[4], ids[0], ids[0], ids[2], 10_000, ids[3]]) == 4
        assert lock_devices([]) == 0
        assert lock_devices([ids[1]]) == 1


def test_lock_person_refuses_a_deleted_or_missing_person(backend, seed, clock) -> None:
    """Only a person who exists and is not deleted is locked; the row comes back."""
    alive = seed.person(101)
    gone = seed.person(102)
    seed.person(103)
    Person.update(deleted_at=clock.now).where(Person.id == gone.id).execute()
    with db.atomic():
        assert lock_person(alive.id).email == alive.email
    for person_id in (gone.id, 10_000):
        with db.atomic(), pytest.raises(NotFound) as err:
            lock_person(person_id)
        assert err.value.details == {"person_id": person_id}


# --- clock.py --------------------------------------------------------------------------------


def test_local_time_and_date_in_the_configured_zone(config) -> None:
    """Naive UTC shown in TIMEZONE: 22:30 UTC is the next day in Moscow."""
    moment = datetime(2026, 11, 26, 22, 30)
    shown = local_time(moment, config)
    assert shown == datetime(2026, 11, 27, 1, 30, tzinfo=ZoneInfo("Europe/Moscow"))
    assert shown.utcoffset().total_seconds() == 3 * 3600
    assert shown.astimezone(UTC).replace(tzinfo=None) == moment
    assert local_date(moment, config) == date(2026, 11, 27)
    assert local_date(datetime(2026, 11, 26, 20, 59), config) == date(2026, 11, 26)


def test_local_time_does_not_depend_on_the_machines_zone(config, monkeypatch) -> None:
    """The stored moment is read as UTC even where the server's own clock is set elsewhere."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        shown = local_time(datetime(2026, 11, 26, 22, 30), config)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert shown == datetime(2026, 11, 27, 1, 30, tzinfo=ZoneInfo("Europe/Moscow"))


# --- dates.py --------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("05.03.2027", date(2027, 3, 5)),
    ("5/3/27", date(2027, 3, 5)),
    ("5-3-99", date(1999, 3, 5)),
    ("1.1.46", date(2046, 1, 1)),   # 20 years ahead: still this century
    ("1.1.47", date(1947, 1, 1)),   # 21 years ahead: the century before
    ("2027-3-5", date(2027, 3, 5)),
    ("2027.03.05", date(2027, 3, 5)),
    ("  05.03.2027 ", date(2027, 3, 5)),
    ("29.02", date(2028, 2, 29)),   # the next 29 February
    ("27.11", date(2026, 11, 27)),
])
def test_parse_date_forms(text: str, expected: date) -> None:
    """Every accepted form, two-digit years in the window, a date without a year ahead."""
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize("text", ["05.03.2027 10:00", "2027-03-05T10:00", "5.3", "32.01.2027",
                                  "05.03.2027x", "2027-02-30", "", "1.2.3.4"])
def test_parse_date_refusals(text: str) -> None:
    """A time, a missing year where one is required, impossible days and trailing text."""
    with pytest.raises(InvalidDate) as err:
        parse_recorded_date(text, TODAY) if text == "5.3" else parse_date(text, TODAY)
    assert err.value.details == {"text": text}


def test_recorded_dates_allow_a_time_and_limit_years() -> None:
    """Files and registration: a time is ignored, a year is required, 1900–2200 only."""
    assert parse_recorded_date("2024-03-05 00:00:00", TODAY) == date(2024, 3, 5)
    assert parse_recorded_date("05.03.2024 10:30", TODAY) == date(2024, 3, 5)
    assert parse_recorded_date("2024-03-05T10:30:15.5", TODAY) == date(2024, 3, 5)
    assert parse_recorded_date("01.01.1900", TODAY) == date(1900, 1, 1)
    assert parse_recorded_date("31.12.2200", TODAY) == date(2200, 12, 31)
    for text in ("31.12.1899", "01.01.2201", "05.03", "2024-03-05 x"):
        with pytest.raises(InvalidDate):
            parse_recorded_date(text, TODAY)
    assert parse_date("01.01.1899", TODAY, years=None) == date(1899, 1, 1)
    with pytest.raises(InvalidDate):
        parse_date("2024-03-05 10:30", TODAY)
    assert parse_date("2024-03-05 10:30", TODAY, time_allowed=True) == date(2024, 3, 5)
    with pytest.raises(InvalidDate):
        parse_date("05.03", TODAY, year_required=True)


def test_a_day_that_never_comes_is_invalid() -> None:
    """«31.02» exists in no year: refused after looking ahead."""
    with pytest.raises(InvalidDate) as err:
        parse_date("31.02", TODAY)
    assert err.value.details == {"text": "31.02"}
    assert parse_date("29.02", date(2027, 3, 1)) == date(2028, 2, 29)
    assert parse_date("29.02", date(2096, 3, 1)) == date(2104, 2, 29)  # 2100 is no leap year


def test_due_dates_from_today_up_to_two_years() -> None:
    """A due date: not before today, at most two years ahead (28.02 for a 29.02)."""
    assert latest_due(TODAY) == date(2028, 11, 26)
    assert latest_due(date(2028, 2, 29)) == date(2030, 2, 28)
    assert parse_future_date("26.11.2028", TODAY) == date(2028, 11, 26)
    with pytest.raises(DateTooFar) as err:
        parse_future_date("27.11.2028", TODAY)
    assert err.value.details == {"value": date(2028, 11, 27), "limit": date(2028, 11, 26)}
    with pytest.raises(PastDate) as err:
        parse_future_date("25.11.2026", TODAY)
    assert err.value.details == {"value": date(2026, 11, 25)}


# --- errors.py, session.py -------------------------------------------------------------------


def test_domain_errors_carry_their_details_and_name() -> None:
    """Details as given, and the class name with them in the message."""
    err = NotFound(device_id=5)
    assert isinstance(err, DomainError)
    assert err.details == {"device_id": 5}
    assert str(err) == "NotFound({'device_id': 5})"
    assert str(DomainError()) == "DomainError({})"


def test_database_down_only_for_connection_failures() -> None:
    """Refused, dropped or locked connections count; a constraint or a bug does not."""
    assert session.database_down(pw.OperationalError("database is locked"))
    assert session.database_down(pw.InterfaceError("connection already closed"))
    assert not session.database_down(pw.IntegrityError("unique"))
    assert not session.database_down(ValueError("x"))


def test_connections_open_reuse_and_close_quietly(backend, database) -> None:
    """open_connection reuses an open one; close_quietly closes and never raises."""
    session.open_connection()
    session.open_connection()
    assert not database.is_closed()
    session.close_quietly()
    assert database.is_closed()
    session.close_quietly()  # closing a closed connection is no failure either


def test_close_quietly_leaves_a_closed_connection_alone_unless_a_transaction_is_left(
        monkeypatch) -> None:
    """Nothing open: no close (its lock is shared); a transaction left behind is reset."""
    calls = []

    class Closed:
        transactions: list[str] = []

        def is_closed(self) -> bool:
            return True

        def in_transaction(self) -> bool:
            return bool(self.transactions)

        def close(self) -> bool:
            calls.append("close")
            self.transactions.clear()
            return False

    closed = Closed()
    monkeypatch.setattr(session, "db", closed)
    session.close_quietly()
    assert calls == []
    closed.transactions.append("left over")
    session.close_quietly()
    assert calls == ["close"] and closed.transactions == []


def test_close_quietly_swallows_a_failing_close(monkeypatch, caplog) -> None:
    """A dead connection's close error is logged, not raised."""
    class Dead:
        def is_closed(self) -> bool:
            return False

        def in_transaction(self) -> bool:
            return False

        def close(self) -> None:
            raise pw.OperationalError("server closed the connection")

    monkeypatch.setattr(session, "db", Dead())
    session.close_quietly()
    assert "could not close the database connection" in caplog.text


# --- prepared.py -----------------------------------------------------------------------------


def test_placeholders_are_distinct_values_no_real_argument_takes() -> None:
    """Each position gets its own value of the argument's type, far outside real ids and times."""
    from datetime import date, timedelta

    from inventory.prepared import _EPOCH, _placeholder

    assert [_placeholder(i, 7) for i in range(3)] == [
        -(10**15) - 7919, -(10**15) - 2 * 7919, -(10**15) - 3 * 7919]
    assert [_placeholder(i, T0) for i in range(2)] == [
        _EPOCH + timedelta(microseconds=7919), _EPOCH + timedelta(microseconds=2 * 7919)]
    days = [_placeholder(i, date(2026, 12, 1)) for i in range(2)]
    assert days == [date(1901, 2, 2), date(1901, 2, 1)]
    assert all(type(day) is date for day in days)  # a datetime would not match a date column
    assert [_placeholder(i, "место") for i in range(2)] == ["\x00prepared 0\x00",
                                                           "\x00prepared 1\x00"]
    assert _placeholder(0, None) is None
    for value in (True, 1.5, b"x"):
        with pytest.raises(TypeError) as err:
            _placeholder(0, value)
        assert str(err.value) == ("Prepared queries take ints, texts, dates, datetimes and None, "
                                  f"not {type(value).__name__}")


def test_prepared_binds_only_its_own_values_not_the_querys_constants(backend, seed) -> None:
    """A constant of the same type in the query stays a constant; rows follow the values."""
    from inventory.prepared import Prepared

    for n in (1, 2, 3, 4):
        seed.device(n)
    between = Prepared(lambda low: Device.select().where(
        (Device.number >= low) & (Device.number <= 3)).order_by(Device.number))
    assert [d.number for d in between.rows(2)] == [2, 3]
    assert [d.number for d in between.rows(1)] == [1, 2, 3]
    unused = Prepared(lambda n: Device.select())
    with pytest.raises(ValueError) as err:
        unused.rows(5)
    assert str(err.value) == "a prepared query must use every one of its values as a parameter"
