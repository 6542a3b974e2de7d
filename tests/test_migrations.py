"""Migrations: apply on empty SQLite and PostgreSQL databases; models and migrations agree."""

from __future__ import annotations

import peewee as pw
import pytest

from models import MODELS, PARTIAL_INDEXES, Category, Device, Loan, Person, utcnow
from schema import apply_migrations, model_drift, schema_version


def test_migrations_create_every_table(backend, database):
    tables = set(database.get_tables())
    assert {m._meta.table_name for m in MODELS} <= tables
    assert schema_version(database) == "001_initial"
    assert apply_migrations(database) == []  # nothing pending after the first run


def test_models_and_migrations_agree(backend, database):
    assert model_drift(database) == []


def test_partial_indexes_exist(backend, database):
    names = {i.name for t in ("loan", "handover") for i in database.get_indexes(t)}
    assert set(PARTIAL_INDEXES) <= names


def test_database_allows_one_open_loan_per_device(backend, conn):
    category = Category.create(name="Весы")
    device = Device.create(number=1, name="Весы", serial="S1", category=category)
    a = Person.create(email="a@x.ru", telegram_id=1)
    b = Person.create(email="b@x.ru", telegram_id=2)
    Loan.create(device=device, person=a)
    with pytest.raises(pw.IntegrityError), conn.atomic():
        Loan.create(device=device, person=b)
    Loan.update(returned_at=utcnow()).execute()
    Loan.create(device=device, person=b)  # after the return a new loan is fine
    assert Loan.select().count() == 2


def test_timestamps_are_filled_automatically(backend, conn):
    category = Category.create(name="Сканер")
    assert category.created_at is not None and category.updated_at is not None
    before = category.updated_at
    Category.update(name="Сканеры").where(Category.id == category.id).execute()
    assert Category.get_by_id(category.id).updated_at >= before
