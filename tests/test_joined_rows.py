"""Joined rows built without peewee's descriptors are the models peewee's own process_row builds."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import peewee as pw

from inventory import devices, joined_rows, loans
from inventory.prepared import Prepared
from models import Category, Device, Handover, Loan, Person, QueueEntry


def graph(model: Any, seen: frozenset[int] = frozenset()) -> Any:
    """A model's data, dirty set, relations and joined attributes, all the way down."""
    if not isinstance(model, pw.Model):
        return model
    if id(model) in seen:
        return ("cycle", type(model).__name__)
    seen = seen | {id(model)}
    extra = {name: graph(value, seen) for name, value in vars(model).items()
             if name not in ("__data__", "_dirty", "__rel__")}
    return (type(model).__name__, dict(model.__data__), set(model._dirty),
            {name: graph(value, seen) for name, value in model.__rel__.items()}, extra)


def both_ways(query: pw.ModelSelect) -> tuple[list[Any], list[Any], bool]:
    """The query's rows through peewee's process_row and through the fast one (if it takes it)."""
    cursor = query.model._meta.database.execute(query)
    wrapper = query._get_cursor_wrapper(cursor)
    rows = cursor.fetchall()
    wrapper.initialize()
    fast = joined_rows.fast_process_row(wrapper)
    peewees = [wrapper.process_row(row) for row in rows]
    ours = [fast(row) for row in rows] if fast is not None else []
    return peewees, ours, fast is not None


def test_card_rows_come_out_as_peewee_builds_them(backend, seed, clock):
    """Held, free, returned, on hold and offered devices: the same graph of models."""
    people = [seed.person(100 + i, f"p{i}@company.ru", name=f"Человек {i}") for i in range(3)]
    made = [seed.device(n, f"Касса {n}", category="Весы" if n % 2 else "Онлайн-касса")
            for n in range(1, 7)]
    seed.loan(made[0], people[0], due=date(2026, 11, 20), place="склад")
    seed.loan(made[1], people[1])
    loans.return_device(made[1].id, people[1], now=clock.now)
    seed.loan(made[2], people[2])
    Handover.create(device=made[2], from_person=people[2], to_person=people[0])
    QueueEntry.create(device=made[3], person=people[2], joined_at=clock.now,
                      hold_until=clock.now + timedelta(hours=2))
    QueueEntry.create(device=made[4], person=people[1], joined_at=clock.now)
    query = devices._rows_query(clock.now).order_by(Device.number)
    peewees, ours, taken = both_ways(query)
    assert taken
    assert len(peewees) == 6
    assert [graph(row) for row in ours] == [graph(row) for row in peewees]
    # What the screens read, spelled out for the rows that have each part.
    assert ours[0].loan.person.email == "p0@company.ru" and ours[0].loan.place == "склад"
    assert ours[0].category.name == "Весы" and ours[1].category.name == "Онлайн-касса"
    assert ours[1].loan is None and ours[1].queueentry is None and ours[1].offer is None
    assert (ours[2].offer.colleague.email, ours[2].offer.status) == ("p0@company.ru", "pending")
    assert ours[3].queueentry.hold_person.name == "Человек 2"
    assert ours[4].queueentry is None  # waiting without a hold is no hold
    assert all(not row._dirty and not row.category._dirty for row in ours)


def test_an_inner_join_comes_out_alike_and_one_model_is_left_to_peewee(backend, seed, clock):
    """A join without an outer join; columns of one model only take peewee's own path."""
    person = seed.person(1, "a@company.ru")
    seed.loan(seed.device(1), person, place="дом")
    seed.loan(seed.device(2), person)
    joined = Loan.select(Loan, Person).join(Person).order_by(Loan.id)
    peewees, ours, taken = both_ways(joined)
    assert taken and [graph(r) for r in ours] == [graph(r) for r in peewees]
    assert [(r.place, r.person.email) for r in ours] == [("дом", "a@company.ru"),
                                                         ("", "a@company.ru")]
    # An outer join through a foreign key that is NULL: peewee marks the relation as absent.
    assigner = Person.alias()
    by = (Loan.select(Loan, assigner).join(assigner, pw.JOIN.LEFT_OUTER, on=Loan.assigned_by)
          .order_by(Loan.id))
    peewees, ours, taken = both_ways(by)
    assert taken and [graph(r) for r in ours] == [graph(r) for r in peewees]
    assert [r.__rel__ for r in ours] == [{"assigned_by": None}] * 2
    # A column read raw (coerce(False)) has no converter.
    raw = Loan.select(Loan.id, Loan.taken_at.coerce(False), Person).join(Person).order_by(Loan.id)
    peewees, ours, taken = both_ways(raw)
    assert taken and [graph(r) for r in ours] == [graph(r) for r in peewees]
    some = Device.select(Device.number, Device.category).order_by(Device.number)
    peewees, _, taken = both_ways(some)
    assert not taken and [r.number for r in peewees] == [1, 2]


def test_models_without_values_of_their_own_are_linked_as_peewee_links_them(backend, seed,
                                                                              clock):
    """Attached empty when something beyond has a value; not at all on an inner join."""
    person = seed.person(1, "a@company.ru")
    seed.loan(seed.device(1), person, place="дом")
    seed.loan(seed.device(2), person, due=date(2026, 12, 9))
    seed.device(3)
    queries = [
        # The loan selects nothing: its holder still hangs on an empty loan.
        Device.select(Device.number, Person).join(Loan).join(Person).order_by(Device.number),
        # A loan whose only selected column is NULL is not attached; the category after it is.
        Device.select(Device.number, Loan.due_date, Category).join(Loan).switch().join(Category)
        .order_by(Device.number),
        # Outer joins: a free device has neither loan nor holder.
        Device.select(Device.number, Loan.due_date, Person.email)
        .join(Loan, pw.JOIN.LEFT_OUTER).join(Person, pw.JOIN.LEFT_OUTER)
        .order_by(Device.number),
    ]
    for query in queries:
        peewees, ours, taken = both_ways(query)
        assert taken and [graph(r) for r in ours] == [graph(r) for r in peewees]
    empty_loans, partly, outer = (both_ways(q)[1] for q in queries)
    assert [r.loan.person.email for r in empty_loans] == ["a@company.ru"] * 2
    assert [("loan" in vars(r), r.category.name) for r in partly] == [
        (False, "Онлайн-касса"), (True, "Онлайн-касса")]
    # Device 1's loan has no due date: it hangs empty, for its holder's sake.
    assert [r.loan.person.email if r.loan else None for r in outer] == [
        "a@company.ru", "a@company.ru", None]
    assert (outer[0].loan.due_date, outer[1].loan.due_date) == (None, date(2026, 12, 9))


class Shouting(pw.FieldAccessor):
    """An accessor that changes what it is given (upper-cases it)."""

    def __set__(self, instance: Any, value: Any) -> None:
        super().__set__(instance, value.upper() if isinstance(value, str) else value)


class LoudField(pw.CharField):
    """A field with an accessor of its own."""

    accessor_class = Shouting


def test_a_field_with_an_accessor_of_its_own_is_left_to_peewee() -> None:
    """Filling the data directly would skip what the accessor does."""
    memory = pw.SqliteDatabase(":memory:")

    class Owner(pw.Model):
        name = pw.CharField()

        class Meta:
            database = memory

    class Pet(pw.Model):
        owner = pw.ForeignKeyField(Owner)
        call = LoudField()

        class Meta:
            database = memory

    memory.create_tables([Owner, Pet])
    Pet.create(owner=Owner.create(name="Анна"), call="гав")
    query = Pet.select(Pet, Owner).join(Owner)
    peewees, _, taken = both_ways(query)
    assert not taken
    assert [(p.call, p.owner.name) for p in peewees] == [("ГАВ", "Анна")]
    plain = Pet.select(Pet.id, Owner).join(Owner)
    _, ours, taken = both_ways(plain)
    assert taken and [p.owner.name for p in ours] == ["Анна"]


def test_columns_that_are_not_fields_are_left_to_peewee(backend, seed):
    """An aliased expression or a field under another name: peewee's own process_row serves."""
    seed.device(1)
    renamed = Device.select(Device.number.alias("sticker"), Category).join(Category)
    _, _, taken = both_ways(renamed)
    assert not taken
    as_dicts = Device.select(Device.number).dicts()
    _, _, taken = both_ways(as_dicts)
    assert not taken


def test_prepared_queries_use_it_from_their_second_run(backend, seed):
    """The first run maps the columns; later runs build their rows with the fast process_row."""
    person = seed.person(1, "a@company.ru")
    seed.loan(seed.device(1), person, place="дом")
    seed.loan(seed.device(2), person, place="офис")
    held = Prepared(lambda number: Loan.select(Loan, Device, Person).join(Device).switch()
                    .join(Person).where(Device.number == number))
    assert [(r.place, r.device.number, r.person.email) for r in held.rows(1)] == [
        ("дом", 1, "a@company.ru")]
    (mapping,) = held._mappings.values()
    fast, built = mapping["process_row"], []

    def counted(row):
        built.append(row)
        return fast(row)

    mapping["process_row"] = counted
    assert [(r.place, r.device.number, r.person.email) for r in held.rows(2)] == [
        ("офис", 2, "a@company.ru")]
    assert len(built) == 1
