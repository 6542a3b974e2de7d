"""inventory/backup.py against mutants: what a dump holds, every refusal, an exact restore.

A restore must bring back exactly the dumped rows (no more, no fewer, none changed), and every
damaged or mismatched dump must be refused with its own one-line reason before anything is
written; the tests pin both on several tables and rows (see docs/mutation.md).
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import peewee as pw
import pytest
from conftest import LATEST_MIGRATION, T0
from test_backup import drop_everything, edited, fill, members, migrated_after, table_json, zip_of  # noqa: F401 - migrated_after is a fixture

from inventory import backup
from models import MODELS, AuditLog, Category, Device, Person
from schema import schema_version


def tables() -> list[str]:
    """Every table's name, sorted."""
    return sorted(m._meta.table_name for m in MODELS)


def refusal(raw: bytes) -> str:
    """The reason a dump is refused."""
    with pytest.raises(backup.BackupError) as caught:
        backup.read_dump(raw)
    return str(caught.value)




@pytest.fixture
def dump(conn, seed) -> bytes:
    """A dump of a database with rows in every table."""
    fill(seed)
    return backup.make_dump(conn, T0).data


# --- the dump ----------------------------------------------------------------------------------


def test_dump_file_and_manifest(backend, conn, seed):
    fill(seed)
    made = backup.make_dump(conn, T0 + timedelta(seconds=5, microseconds=999_999))
    assert made.file_name == "devtrack-dump-20261126-090005.zip"
    assert made.schema_version == LATEST_MIGRATION  # the caption of the dump message shows it
    with zipfile.ZipFile(io.BytesIO(made.data)) as archive:
        assert {item.compress_type for item in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    assert made.total == sum(made.counts.values()) == sum(m.select().count() for m in MODELS)
    files = members(made.data)
    manifest = json.loads(files[backup.MANIFEST])
    assert manifest == {"app": "devtrack", "format": 1, "created_at": "2026-11-26T09:00:05Z",
                        "schema_version": LATEST_MIGRATION,
                        "database": "postgresql" if backend == "postgres" else "sqlite",
                        "tables": made.counts}
    assert files[backup.MANIFEST] == json.dumps(manifest, ensure_ascii=False, indent=1).encode()
    people = json.loads(files["person.json"])
    assert files["person.json"] == json.dumps(people, ensure_ascii=False, indent=1).encode()
    assert "Иван «Ёж» Петров".encode() in files["person.json"]  # UTF-8 text, not \u escapes
    read = backup.read_dump(made.data)
    assert read.schema_version == LATEST_MIGRATION and read.counts == made.counts
    assert backup.Dump({"tables": {}}).schema_version == ""


def test_row_counts_name_every_table(backend, conn, seed):
    fill(seed)
    Device.create(number=77, name="x", serial="x77", category=Category.get())
    counts = backup.row_counts()
    assert sorted(counts) == tables()
    assert counts["device"] == 4 and counts["category"] == 3 and counts["person"] == 3


# --- refusals ----------------------------------------------------------------------------------


def test_manifest_refusals_name_what_is_wrong(dump):
    def manifest(change) -> str:
        return refusal(edited(dump, backup.MANIFEST, change))

    assert manifest(lambda m: [m]) == "manifest.json does not describe a devtrack dump"
    assert manifest(lambda m: {**m, "app": None}) == (
        "manifest.json does not describe a devtrack dump")
    assert manifest(lambda m: {k: v for k, v in m.items() if k != "format"}) == (
        "dump format None is not supported (this version reads format 1)")
    assert manifest(lambda m: {**m, "format": "1"}) == (
        "dump format '1' is not supported (this version reads format 1)")
    bad_counts = "manifest.json has no valid row counts per table"
    assert manifest(lambda m: {**m, "tables": list(m["tables"])}) == bad_counts
    for wrong in (-1, True, 1.0, "1", None):
        assert manifest(lambda m, w=wrong: {**m, "tables": {**m["tables"], "device": w}}) == (
            bad_counts), wrong
    assert manifest(lambda m: {**m, "tables": {k: v for k, v in m["tables"].items()
                                               if k not in ("loan", "device")}}) == (
        "manifest.json does not match this schema: missing tables device, loan")
    assert manifest(lambda m: {**m, "tables": {**{k: v for k, v in m["tables"].items()
                                                  if k != "loan"}, "zz": 0, "extra": 0}}) == (
        "manifest.json does not match this schema: unknown tables extra, zz; "
        "missing tables loan")
    assert manifest(lambda m: {**m, "tables": {**m["tables"], "extra": 0}}) == (
        "manifest.json does not match this schema: unknown tables extra")
    assert manifest(lambda m: {k: v for k, v in m.items() if k != "schema_version"}) == (
        "manifest.json has no schema version")
    assert manifest(lambda m: {**m, "schema_version": 7}) == "manifest.json has no schema version"
    # Zero rows is a valid count.
    empty = edited(edited(dump, backup.MANIFEST,
                          lambda m: {**m, "tables": {**m["tables"], "handover": 0}}),
                   "handover.json", lambda rows: [])
    assert backup.read_dump(empty).tables["handover"] == []


def test_table_refusals_name_the_table_and_row(dump):
    assert refusal(edited(dump, "device.json", lambda rows: {"rows": rows})) == (
        "device.json is not a list of rows")
    counts = json.loads(members(dump)[backup.MANIFEST])["tables"]
    assert refusal(edited(dump, "device.json", lambda rows: rows[:-1])) == (
        f"device.json has {counts['device'] - 1} rows, the manifest says {counts['device']}")
    columns = ", ".join(sorted(f.column_name for f in Category._meta.sorted_fields))
    for damage in (lambda rows: [rows[0], [1, 2], *rows[2:]],
                   lambda rows: [rows[0], {k: v for k, v in rows[1].items() if k != "name"},
                                 *rows[2:]]):
        assert refusal(edited(dump, "category.json", damage)) == (
            f"category.json row 2: columns do not match the table ({columns})")
    assert refusal(zip_of({k: v for k, v in members(dump).items() if k != "device.json"})) == (
        "device.json is missing: not a complete devtrack dump")
    assert refusal(zip_of({**members(dump), "device.json": b"\xff\xfe["})).startswith(
        "device.json is not valid JSON: ")
    assert refusal(zip_of({**members(dump), "device.json": b"[1,"})).startswith(
        "device.json is not valid JSON: ")
    assert refusal(b"not a zip at all") == (
        "the file is not a zip archive (corrupt or not a dump)")


def test_a_corrupt_member_is_refused(dump):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members(dump).items():
            archive.writestr(name, data)
    raw = bytearray(buffer.getvalue())
    start = raw.index('"Весы Штрих"'.encode())
    raw[start + 1] ^= 0x20  # the stored bytes no longer match their CRC
    reason = refusal(bytes(raw))
    assert reason.startswith("device.json cannot be read from the zip: "), reason


@pytest.mark.parametrize(("table", "column", "value", "shown"), [
    ("device", "registered_on", "29.02.2024", "'29.02.2024'"),
    ("device", "registered_on", 20240229, "20240229"),
    ("loan", "taken_at", "вчера", "'вчера'"),
    ("loan", "taken_at", ["2026-11-26"], "['2026-11-26']"),
])
def test_a_bad_date_is_refused_naming_table_row_and_column(conn, dump, table, column, value,
                                                           shown):
    damaged = edited(dump, f"{table}.json",
                     lambda rows: [rows[0], {**rows[1], column: value}, *rows[2:]])
    before = table_json(backup.make_dump(conn, T0).data)
    with pytest.raises(backup.BackupError) as caught:
        backup.restore(conn, damaged, force=True)
    assert str(caught.value) == f"{table}.json row 2: {column} {shown} is not an ISO date"
    assert table_json(backup.make_dump(conn, T0).data) == before


# --- restoring ---------------------------------------------------------------------------------


def test_restore_refuses_a_database_with_rows_and_names_them(backend, conn, seed):
    seed.device(1)
    seed.device(2)
    seed.person(5)
    raw = backup.make_dump(conn, T0).data
    with pytest.raises(backup.BackupError) as caught:
        backup.restore(conn, raw)
    assert str(caught.value) == (
        "the database is not empty (rows: person 1, category 1, device 2): pass --force to "
        "replace its contents with the dump")


def test_forced_restore_brings_back_exactly_the_dump(backend, conn, seed):
    fill(seed)
    raw = backup.make_dump(conn, T0).data
    dumped = table_json(raw)
    # Change, add and delete rows in several tables.
    Person.update(name="Другое").where(Person.email == "ivan@company.ru").execute()
    Device.create(number=99, name="Новое", serial="SN-99", category=Category.get())
    AuditLog.delete().execute()
    Category.create(name="Лишняя")
    before = backup.row_counts()
    report = backup.restore(conn, raw, force=True)
    assert report.replaced == {name: n for name, n in before.items() if n}
    assert report.migrated is False and report.schema_version == LATEST_MIGRATION
    assert report.counts == backup.read_dump(raw).counts
    assert report.total == sum(report.counts.values())
    assert table_json(backup.make_dump(conn, T0).data) == dumped


def test_restore_of_many_rows_inserts_them_in_batches(backend, conn, seed):
    AuditLog.insert_many([{"action": f"a{n}", "details": json.dumps({"n": n}), "created_at": T0,
                           "updated_at": T0} for n in range(1, 1203)]).execute()
    raw = backup.make_dump(conn, T0).data
    AuditLog.delete().where(AuditLog.id.in_(list(range(7, 1203, 7)))).execute()
    report = backup.restore(conn, raw, force=True)
    assert report.counts["auditlog"] == 1202 and report.replaced == {"auditlog": 1202 - 171}
    assert [a.action for a in AuditLog.select().order_by(AuditLog.id)] == [
        f"a{n}" for n in range(1, 1203)]
    assert table_json(backup.make_dump(conn, T0).data) == table_json(raw)


def test_restore_into_an_empty_schema_without_force(backend, conn, seed):
    fill(seed)
    raw = backup.make_dump(conn, T0).data
    backup.empty_tables(conn)
    assert backup.row_counts() == dict.fromkeys(backup.row_counts(), 0)
    report = backup.restore(conn, raw)
    assert report.replaced == {} and report.migrated is False
    assert table_json(backup.make_dump(conn, T0).data) == table_json(raw)


def test_schema_version_mismatch_is_refused_with_both_versions(backend, conn, dump):
    other = edited(dump, backup.MANIFEST, lambda m: {**m, "schema_version": "001_old"})
    with pytest.raises(backup.BackupError) as caught:
        backup.restore(conn, other, force=True)
    assert str(caught.value) == (f"the dump has schema version 001_old, the database has "
                                 f"{LATEST_MIGRATION}: they must match")
    unnamed = edited(dump, backup.MANIFEST, lambda m: {**m, "schema_version": ""})
    with pytest.raises(backup.BackupError) as caught:
        backup.restore(conn, unnamed, force=True)
    assert str(caught.value) == (f"the dump has schema version (none), the database has "
                                 f"{LATEST_MIGRATION}: they must match")


@pytest.mark.usefixtures("migrated_after")
def test_a_new_database_is_migrated_only_for_a_matching_dump(backend, database, conn, dump):
    drop_everything(conn)
    assert backup.latest_migration(conn) == LATEST_MIGRATION
    unnamed = edited(dump, backup.MANIFEST, lambda m: {**m, "schema_version": ""})
    with pytest.raises(backup.BackupError) as caught:
        backup.restore(conn, unnamed)
    assert str(caught.value) == (f"the dump has schema version (none), this code creates "
                                 f"{LATEST_MIGRATION}: restore it with the matching version")
    assert not backup.has_schema(conn)
    report = backup.restore(conn, dump)
    assert report.migrated is True and report.replaced == {}
    assert report.schema_version == LATEST_MIGRATION


@pytest.mark.usefixtures("migrated_after")
def test_has_schema_sees_any_devtrack_table_or_the_history(backend, database, conn):
    assert backup.has_schema(conn) is True
    drop_everything(conn)
    assert backup.has_schema(conn) is False
    conn.execute_sql('CREATE TABLE "migratehistory" (id INTEGER)')
    assert backup.has_schema(conn) is True
    conn.execute_sql('DROP TABLE "migratehistory"')
    conn.execute_sql('CREATE TABLE "other" (id INTEGER)')
    assert backup.has_schema(conn) is False
    conn.execute_sql('CREATE TABLE "dialogstate" (id INTEGER)')
    assert backup.has_schema(conn) is True
    conn.execute_sql('DROP TABLE "dialogstate"')
    conn.execute_sql('DROP TABLE "other"')


def test_restored_ids_go_on_after_the_highest_one(backend, conn, seed):
    fill(seed)
    for n in range(10, 14):
        seed.device(n)
    Device.delete().where(Device.number.in_([10, 11])).execute()
    raw = backup.make_dump(conn, T0).data
    highest = Device.select(pw.fn.MAX(Device.id)).scalar()
    backup.restore(conn, raw, force=True)
    assert seed.device(20).id == highest + 1


@pytest.mark.usefixtures("migrated_after")
def test_wipe_works_with_a_table_missing(backend, database, conn, seed):
    fill(seed)
    conn.execute_sql('DROP TABLE "dialogstate"')
    assert backup.wipe(conn) == LATEST_MIGRATION
    assert backup.row_counts() == dict.fromkeys(tables(), 0)
    assert sorted(backup.row_counts()) == tables()


def test_rows_the_database_loses_on_the_way_in_fail_the_restore(conn, seed):
    fill(seed)
    raw = backup.make_dump(conn, T0).data
    before = table_json(raw)
    # A database that silently drops rows (here a trigger) must not pass for a restore.
    conn.execute_sql("CREATE TRIGGER lose AFTER INSERT ON dialogstate "
                     "BEGIN DELETE FROM dialogstate WHERE id = NEW.id; END")
    try:
        with pytest.raises(backup.BackupError) as caught:
            backup.restore(conn, raw, force=True)
    finally:
        conn.execute_sql("DROP TRIGGER lose")
    assert str(caught.value) == (
        "row counts after the restore do not match: dialogstate 0 instead of 1")
    assert table_json(backup.make_dump(conn, T0).data) == before


def test_a_refused_insert_names_the_databases_reason(backend, conn, dump):
    files = members(dump)
    devices = json.loads(files["device.json"])
    devices[2]["serial"] = devices[0]["serial"]
    with pytest.raises(backup.BackupError) as caught:
        backup.restore(conn, zip_of({**files, "device.json": json.dumps(devices).encode()}),
                       force=True)
    reason = str(caught.value)
    assert reason.startswith("the database refused the dump: ") and "serial" in reason, reason
    assert "\n" not in reason


def test_a_schema_without_migration_history_is_named_none(backend, conn, dump):
    with conn.atomic() as transaction:  # the history comes back with the rollback
        conn.execute_sql('DELETE FROM "migratehistory"')
        with pytest.raises(backup.BackupError) as caught:
            backup.restore(conn, dump, force=True)
        transaction.rollback()
    assert schema_version(conn) == LATEST_MIGRATION
    assert str(caught.value) == (f"the dump has schema version {LATEST_MIGRATION}, the database "
                                 "has (none): they must match")
