"""Dumps, `python -m jobs.restore` and the wipe, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from datetime import date, timedelta
from pathlib import Path

import peewee as pw
import pytest
from conftest import LATEST_MIGRATION, T0

from inventory import audit, backup
from jobs import restore as restore_cli
from models import (
    DERIVED_MODELS,
    MODELS,
    AccessRequest,
    AuditLog,
    Category,
    DialogState,
    Handover,
    Loan,
    Person,
    QueueEntry,
    RegistrationCode,
    db,
    make_database,
)
from schema import apply_migrations, schema_version

REPO = Path(__file__).resolve().parent.parent


def fill(seed) -> None:
    """Rows in every table, with NULLs, booleans, big ids, dates, unicode and JSON text."""
    admin = seed.person(900, "admin@company.ru", name="Админ")
    ivan = seed.person(5_000_000_001, "ivan@company.ru", name="Иван «Ёж» Петров",
                       username="ivan")
    ghost = seed.person(None, "ghost@company.ru")
    scale = seed.device(1, "Весы Штрих", category="Весы", registered_on=date(2024, 2, 29),
                        firmware="1.0", comment='"кавычки" & <теги>')
    kassa = seed.device(2, "Эвотор 7.2")
    seed.device(3, "Сканер", category="Сканер")
    seed.loan(scale, ivan, due=date(2026, 12, 1), place="офис")
    old = seed.loan(kassa, ghost)
    Loan.update(returned_at=T0 + timedelta(hours=1, microseconds=123456),
                reminded_on=date(2026, 11, 20), assigned_by=admin).where(
        Loan.id == old.id).execute()
    # Deleted after returning the device (a deleted person can no longer take one).
    Person.update(reachable=False, deleted_at=T0, comment="уволен\nвторая строка").where(
        Person.id == ghost.id).execute()
    QueueEntry.create(device=scale, person=admin, joined_at=T0,
                      hold_until=T0 + timedelta(days=1))
    Handover.create(device=scale, from_person=ivan, to_person=admin)
    audit.record("test.note", actor=admin, now=T0, person=ivan, note="ключ: значение")
    DialogState.create(chat_id=-100123, state="take:place", data=json.dumps({"device_id": 2}))
    Person.update(is_admin=True).where(Person.id == ivan.id).execute()
    RegistrationCode.create(chat_id=5_000_000_002, email="new@company.ru", salt="ab" * 16,
                            code_hash="cd" * 32, expires_at=T0 + timedelta(minutes=15))
    AccessRequest.create(telegram_id=5_000_000_003, email="ghost@company.ru", name="Гость",
                         known=True, status="rejected", decided_by=admin,
                         decided_by_name="Админ", decided_at=T0, notices="[[900, 17]]")


def members(data: bytes) -> dict[str, bytes]:
    """Every file of a zip."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def drop_everything(database: pw.Database) -> None:
    """Make the database truly empty: no tables, no migration history."""
    database.drop_tables([*MODELS, *DERIVED_MODELS])
    database.execute_sql("DROP TABLE IF EXISTS migratehistory")
    assert not backup.has_schema(database)


@pytest.fixture
def migrated_after(backend, database):
    """Leave the database migrated even when a test that drops tables fails half-way."""
    yield
    database.connect(reuse_if_open=True)
    if not set(database.get_tables()) >= {m._meta.table_name for m in MODELS}:
        drop_everything(database)
        apply_migrations(database)
    database.close()


def run_restore(database: pw.Database, *args: str) -> int:
    """`python -m jobs.restore` in-process against the test database."""
    database.close()
    try:
        return restore_cli.main(list(args), environ={"DATABASE_URL": database.url})
    finally:
        db.initialize(database)
        database.connect(reuse_if_open=True)


def table_json(data: bytes) -> dict[str, bytes]:
    """The table files of a dump (everything but the manifest)."""
    return {k: v for k, v in members(data).items() if k != backup.MANIFEST}


# --- the dump --------------------------------------------------------------------------------


def test_dump_has_every_table_and_a_manifest(backend, conn, seed):
    fill(seed)
    dump = backup.make_dump(conn, T0)
    files = members(dump.data)
    assert set(files) == {f"{m._meta.table_name}.json" for m in MODELS} | {"manifest.json"}
    manifest = json.loads(files["manifest.json"])
    assert manifest["app"] == "devtrack" and manifest["format"] == 1
    assert manifest["schema_version"] == schema_version(conn) == LATEST_MIGRATION
    assert manifest["created_at"] == "2026-11-26T09:00:00Z"
    assert manifest["tables"] == {m._meta.table_name: m.select().count() for m in MODELS}
    assert all(n > 0 for n in manifest["tables"].values())
    loans = json.loads(files["loan.json"])
    assert [r["id"] for r in loans] == sorted(r["id"] for r in loans)
    returned = next(r for r in loans if r["returned_at"])
    assert returned["returned_at"] == "2026-11-26T10:00:00.123456"
    assert returned["reminded_on"] == "2026-11-20" and returned["assigned_by_id"] is not None
    people = {p["email"]: p for p in json.loads(files["person.json"])}
    assert people["ivan@company.ru"]["telegram_id"] == 5_000_000_001
    assert people["ghost@company.ru"]["reachable"] is False
    assert people["ghost@company.ru"]["telegram_id"] is None
    assert dump.file_name == "devtrack-dump-20261126-090000.zip"


def test_dump_restore_dump_round_trip(backend, database, conn, seed, migrated_after):
    fill(seed)
    first = backup.make_dump(conn, T0)
    drop_everything(conn)
    report = backup.restore(conn, first.data)
    assert report.migrated and report.counts == first.counts and report.replaced == {}
    second = backup.make_dump(conn, T0 + timedelta(days=1))
    assert table_json(second.data) == table_json(first.data)
    assert json.loads(members(second.data)["manifest.json"])["tables"] == first.counts
    # Ids go on after the restored ones (PostgreSQL sequences were reset).
    highest = Category.select(pw.fn.MAX(Category.id)).scalar()
    assert Category.create(name="Новая").id == highest + 1
    assert AuditLog.create(action="x").id == first.counts["auditlog"] + 1


def test_restore_refuses_a_non_empty_database_unless_forced(backend, database, conn, seed):
    fill(seed)
    dump = backup.make_dump(conn, T0)
    Category.create(name="Лишняя")
    with pytest.raises(backup.BackupError, match="--force"):
        backup.restore(conn, dump.data)
    assert Category.get_or_none(Category.name == "Лишняя") is not None
    report = backup.restore(conn, dump.data, force=True)
    assert report.replaced["category"] == dump.counts["category"] + 1
    assert Category.get_or_none(Category.name == "Лишняя") is None
    assert table_json(backup.make_dump(conn, T0).data) == table_json(dump.data)


def test_a_failing_restore_changes_nothing(backend, database, conn, seed):
    fill(seed)
    dump = backup.make_dump(conn, T0)
    files = members(dump.data)
    devices = json.loads(files["device.json"])
    devices[1]["serial"] = devices[0]["serial"]  # violates the unique index on the way in
    files["device.json"] = json.dumps(devices).encode()
    broken = zip_of(files)
    before = table_json(dump.data)
    with pytest.raises(backup.BackupError, match="refused"):
        backup.restore(conn, broken, force=True)
    assert table_json(backup.make_dump(conn, T0).data) == before


def zip_of(files: dict[str, bytes]) -> bytes:
    """A zip holding the given files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def edited(data: bytes, name: str, change) -> bytes:
    """The dump with one JSON member changed."""
    files = members(data)
    files[name] = json.dumps(change(json.loads(files[name]))).encode()
    return zip_of(files)


@pytest.mark.parametrize("damage, message", [
    (lambda d: d[: len(d) // 2], "not a zip"),
    (lambda d: b"garbage", "not a zip"),
    (lambda d: zip_of({k: v for k, v in members(d).items() if k != "manifest.json"}),
     "manifest.json is missing"),
    (lambda d: zip_of({k: v for k, v in members(d).items() if k != "loan.json"}),
     "loan.json is missing"),
    (lambda d: zip_of({**members(d), "manifest.json": b"{not json"}), "not valid JSON"),
    (lambda d: edited(d, "manifest.json", lambda m: {**m, "app": "other"}), "not describe"),
    (lambda d: edited(d, "manifest.json", lambda m: {**m, "format": 9}), "format 9"),
    (lambda d: edited(d, "manifest.json",
                      lambda m: {**m, "tables": {**m["tables"], "extra": 1}}), "unknown tables"),
    (lambda d: edited(d, "manifest.json",
                      lambda m: {**m, "tables": {**m["tables"], "device": 99}}), "manifest says"),
    (lambda d: edited(d, "device.json", lambda rows: [{**rows[0], "x": 1}, *rows[1:]]),
     "columns do not match"),
    (lambda d: edited(d, "device.json",
                      lambda rows: [{**rows[0], "registered_on": "вчера"}, *rows[1:]]),
     "not an ISO date"),
])
def test_a_broken_dump_is_refused_with_a_reason(conn, seed, damage, message):
    fill(seed)
    dump = backup.make_dump(conn, T0)
    with pytest.raises(backup.BackupError, match=message):
        backup.restore(conn, damage(dump.data), force=True)


# --- python -m jobs.restore ------------------------------------------------------------------


def one_line(captured: str) -> str:
    """The single line a failing restore prints."""
    lines = captured.strip().splitlines()
    assert len(lines) == 1, captured
    assert "Traceback" not in captured
    return lines[0]


def test_cli_refuses_non_empty_then_force_works(backend, database, conn, seed, tmp_path, capsys):
    fill(seed)
    dump = backup.make_dump(conn, T0)
    path = tmp_path / dump.file_name
    path.write_bytes(dump.data)
    Category.create(name="Лишняя")
    assert run_restore(database, str(path)) == 1
    assert "--force" in one_line(capsys.readouterr().err)
    assert Category.get_or_none(Category.name == "Лишняя") is not None
    assert run_restore(database, str(path), "--force") == 0
    out = capsys.readouterr().out
    assert out.startswith("restored ") and "existing rows replaced" in out
    assert table_json(backup.make_dump(conn, T0).data) == table_json(dump.data)


def test_cli_into_an_empty_database_applies_migrations(backend, database, conn, seed, tmp_path,
                                                       capsys, migrated_after):
    fill(seed)
    dump = backup.make_dump(conn, T0)
    path = tmp_path / "dump.zip"
    path.write_bytes(dump.data)
    drop_everything(conn)
    assert run_restore(database, str(path)) == 0
    assert "migrations applied" in capsys.readouterr().out
    assert schema_version(conn) == LATEST_MIGRATION
    assert table_json(backup.make_dump(conn, T0).data) == table_json(dump.data)


def test_cli_corrupt_zip_gives_one_line(conn, tmp_path, capsys):
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    assert run_restore(conn, str(path)) == 1
    assert "not a zip" in one_line(capsys.readouterr().err)
    assert run_restore(conn, str(tmp_path / "missing.zip")) == 1
    assert "cannot read" in one_line(capsys.readouterr().err)


def test_cli_other_schema_version_gives_one_line(backend, database, conn, seed, tmp_path,
                                                 capsys, migrated_after):
    fill(seed)
    dump = edited(backup.make_dump(conn, T0).data, "manifest.json",
                  lambda m: {**m, "schema_version": "999_future"})
    path = tmp_path / "future.zip"
    path.write_bytes(dump)
    assert run_restore(database, str(path), "--force") == 1
    line = one_line(capsys.readouterr().err)
    assert "999_future" in line and LATEST_MIGRATION in line
    # Into an empty database it refuses before creating anything.
    drop_everything(conn)
    assert run_restore(database, str(path)) == 1
    assert "999_future" in one_line(capsys.readouterr().err)
    assert not backup.has_schema(conn)


def test_cli_bad_database_url(tmp_path, capsys):
    path = tmp_path / "dump.zip"
    path.write_bytes(b"x")
    assert restore_cli.main([str(path)], environ={"DATABASE_URL": "mysql://x/y"}) == 1
    assert "DATABASE_URL" in one_line(capsys.readouterr().err)


def test_cli_as_a_module_on_a_new_sqlite_file(conn, seed, tmp_path):
    fill(seed)
    dump = backup.make_dump(conn, T0)
    path = tmp_path / "dump.zip"
    path.write_bytes(dump.data)
    target = tmp_path / "new" / "restored.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{target}", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-m", "jobs.restore", str(path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"restored {dump.total} rows")
    again = subprocess.run([sys.executable, "-m", "jobs.restore", str(path)], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 1 and "--force" in one_line(again.stderr)
    restored = make_database(f"sqlite:///{target}")
    db.initialize(restored)
    try:
        assert table_json(backup.make_dump(restored, T0).data) == table_json(dump.data)
    finally:
        restored.close()
        db.initialize(conn)


# --- wipe ------------------------------------------------------------------------------------


def test_wipe_empties_every_table_and_applies_migrations_again(backend, database, conn, seed,
                                                               migrated_after):
    fill(seed)
    assert backup.wipe(conn) == LATEST_MIGRATION
    assert backup.row_counts() == {m._meta.table_name: 0 for m in MODELS}
    assert schema_version(conn) == LATEST_MIGRATION
    assert apply_migrations(conn) == []
    assert Category.create(name="Весы").id == 1
