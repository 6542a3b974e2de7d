"""Prepared queries: compiled once per kind of database, never run with another dialect's SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import peewee as pw
import pytest
from conftest import PG_URL, _pg_database

from inventory import prepared
from inventory.prepared import Prepared
from models import Device, Loan, Person, db, make_database


def test_the_sql_is_kept_per_kind_of_database_not_per_object(tmp_path):
    # An id() of a closed database can be reused by the next one (tests switch between
    # SQLite and PostgreSQL): a compiled query must follow the dialect, not the object.
    prepared = Prepared(lambda number: Device.select().where(Device.number == number))
    previous = db.obj
    try:
        for name in ("one.db", "two.db"):
            database = make_database(f"sqlite:///{tmp_path / name}")
            db.initialize(database)
            database.create_tables([Device.category.rel_model, Device])
            assert prepared.rows(49) == []
            database.close()
        assert len(prepared._compiled) == 1  # the second SQLite file reused the first's SQL
        if not PG_URL:
            pytest.skip("TEST_DATABASE_URL is not set: the PostgreSQL half is skipped")
        postgres = _pg_database()  # migrated once per test session
        postgres.connect(reuse_if_open=True)
        prepared.rows(49)  # no "?" from SQLite's SQL: PostgreSQL gets its own
        assert len(prepared._compiled) == 2
        postgres.close()
    finally:
        db.initialize(previous)


def test_a_query_is_built_once_and_later_runs_only_bind_their_values(database, seed):
    built = []

    def build(number):
        built.append(number)
        return Device.select().where(Device.number == number)

    prepared = Prepared(build)
    seed.device(7)
    assert [d.number for d in prepared.rows(7)] == [7]
    assert prepared.rows(8) == []
    assert [d.number for d in prepared.rows(7)] == [7]
    assert len(built) == 1  # compiled on the first run only, with a placeholder, not 7
    assert built[0] != 7


def test_values_of_another_type_get_their_own_compiled_query(database, seed):
    # The shape of a prepared query is the types of its values: a builder may branch on them.
    def build(value):
        if isinstance(value, datetime):
            return Device.select().where(Device.created_at <= value)
        return Device.select().where(Device.number == value)

    prepared = Prepared(build)
    seed.device(7, created_at=datetime(2026, 1, 1))
    seed.device(8, created_at=datetime(2026, 6, 1))
    assert [d.number for d in prepared.rows(8)] == [8]
    assert [d.number for d in prepared.rows(datetime(2026, 3, 1))] == [7]


def test_the_column_mapping_is_made_once_and_joined_rows_stay_right(database, seed, clock,
                                                                    monkeypatch):
    made = []
    real = pw.ModelCursorWrapper.initialize

    def counted(wrapper):
        made.append(wrapper)
        real(wrapper)

    monkeypatch.setattr(pw.ModelCursorWrapper, "initialize", counted)
    first, second = seed.device(7), seed.device(8, "Атол")
    seed.loan(first, seed.person(1, name="Анна"))
    seed.loan(second, seed.person(2, name="Борис"))
    prepared = Prepared(lambda number: Device.select(Device, Loan, Person).join(Loan)
                        .join(Person).where(Device.number == number))
    assert prepared.rows(9) == []  # no row: nothing to map yet
    assert [d.loan.person.name for d in prepared.rows(7)] == ["Анна"]
    assert [(d.name, d.loan.person.name) for d in prepared.rows(8)] == [("Атол", "Борис")]
    assert [d.loan.person.name for d in prepared.rows(7)] == ["Анна"]
    assert len(made) == 1
    prepared.forget()
    prepared.rows(7)
    assert len(made) == 2


class ServerSide:
    """A database that prepares statements on its server: what it was asked to run."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, list]] = []

    def execute_prepared(self, sql: str, params: list) -> str:
        self.asked.append((sql, params))
        return "cursor"


def test_raw_sql_goes_to_a_server_that_prepares(database):
    server = ServerSide()
    db.initialize(server)
    try:
        assert prepared.execute("SELECT %s + %s", [1, 2]) == "cursor"
    finally:
        db.initialize(database)
    assert server.asked == [("SELECT %s + %s", [1, 2])]
    # On SQLite the text goes as it is.
    assert prepared.execute("SELECT ? + ?", [1, 2]).fetchone() == (3,)


def test_texts_dates_and_none_are_bound_and_none_keeps_a_compiled_query_of_its_own(backend,
                                                                                   seed):
    """A None compiles as NULL (IS NULL) under its own key; texts and dates are bound values."""
    built = []

    def build(place, due_date):
        built.append((place, due_date))
        return (Loan.select(Loan.id).where((Loan.place == place) & (Loan.due_date == due_date))
                .order_by(Loan.id))

    found = Prepared(build)
    person = seed.person(1)
    office = seed.loan(seed.device(1), person, place="офис", due=datetime(2026, 12, 1).date())
    later = seed.loan(seed.device(2), person, place="офис", due=datetime(2026, 12, 2).date())
    undated = seed.loan(seed.device(3), person, place="дом")
    assert [r.id for r in found.rows("офис", datetime(2026, 12, 1).date())] == [office.id]
    assert [r.id for r in found.rows("офис", datetime(2026, 12, 2).date())] == [later.id]
    assert [r.id for r in found.rows("дом", None)] == [undated.id]
    assert [r.id for r in found.rows("офис", None)] == []
    assert found.rows("дом", datetime(2026, 12, 1).date()) == []
    # Two shapes, each built once: with a date and with None.
    assert len(built) == 2 and built[1][1] is None
    assert built[0][0] not in ("офис", "дом") and built[0][1] != datetime(2026, 12, 1).date()


def test_a_write_with_returning_runs_with_each_calls_values(backend, seed):
    """An UPDATE ... RETURNING compiled once changes only the rows its values pick."""
    rename = Prepared(lambda number, name: Device.update(name=name)
                      .where(Device.number == number).returning(Device))
    for number in (1, 2, 3):
        seed.device(number, f"Касса {number}")
    assert [(d.number, d.name) for d in rename.rows(2, "Сканер")] == [(2, "Сканер")]
    assert [(d.number, d.name) for d in rename.rows(3, "Весы")] == [(3, "Весы")]
    assert rename.rows(9, "Никто") == []
    assert [d.name for d in Device.select().order_by(Device.number)] == [
        "Касса 1", "Сканер", "Весы"]


def test_prepared_queries_go_to_the_servers_prepare_unless_told_not_to(database, seed):
    """on_server (the default) sends a Prepared query through execute_prepared; False does not."""
    asked: list[str] = []

    class Preparing(type(database)):  # type: ignore[misc]
        """The same SQLite file, with a server that prepares (it records what it was asked)."""

        def execute_prepared(self, sql: str, params: list) -> Any:
            asked.append(sql)
            return self.execute_sql(sql, params)

    seed.device(7)
    server = Preparing(database.database)
    db.initialize(server)
    try:
        on_server = Prepared(lambda number: Device.select().where(Device.number == number))
        planned_each_time = Prepared(lambda number: Device.select(Device.id)
                                     .where(Device.number == number), on_server=False)
        assert [d.number for d in on_server.rows(7)] == [7]
        assert len(asked) == 1 and asked[0].startswith("SELECT")
        assert [d.id for d in planned_each_time.rows(7)] != []
        assert len(asked) == 1
    finally:
        server.close()
        db.initialize(database)
