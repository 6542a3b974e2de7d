"""Migrations: apply on empty SQLite and PostgreSQL databases; models and migrations agree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import peewee as pw
import pytest

from models import DERIVED_MODELS, MODELS, PARTIAL_INDEXES, Category, Device, Loan, Person, utcnow
from schema import apply_migrations, model_drift, schema_version

MIGRATIONS = sorted(p.stem for p in (Path(__file__).resolve().parent.parent / "migrations")
                    .glob("[0-9][0-9][0-9]_*.py"))
LATEST = MIGRATIONS[-1]


def test_migrations_create_every_table(backend, database):
    tables = set(database.get_tables())
    assert {m._meta.table_name for m in [*MODELS, *DERIVED_MODELS]} <= tables
    assert schema_version(database) == LATEST
    assert apply_migrations(database) == []  # nothing pending after the first run


def test_models_and_migrations_agree(backend, database):
    assert model_drift(database) == []


def test_partial_indexes_exist(backend, database):
    names = {i.name for t in ("loan", "handover", "accessrequest") for i in database.get_indexes(t)}
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


def run_schema(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """python -m schema on a SQLite file in tmp_path."""
    root = Path(__file__).resolve().parent.parent
    env = {"PATH": os.environ.get("PATH", ""), "DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    return subprocess.run([sys.executable, "-m", "schema", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=60)


def test_schema_cli_upgrade_status_and_guarded_rollback(tmp_path):
    assert "pending  001_initial" in run_schema(tmp_path, "status").stdout
    assert "applied: 001_initial" in run_schema(tmp_path, "upgrade").stdout
    assert f"applied  {LATEST}" in run_schema(tmp_path, "status").stdout
    refused = run_schema(tmp_path, "rollback")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert f"applied  {LATEST}" in run_schema(tmp_path, "status").stdout
    done = run_schema(tmp_path, "rollback", "--yes")
    assert done.returncode == 0 and f"rolled back: {LATEST}" in done.stdout
    assert f"pending  {LATEST}" in run_schema(tmp_path, "status").stdout
    assert f"applied: {LATEST}" in run_schema(tmp_path, "upgrade").stdout
