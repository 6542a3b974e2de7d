"""The per-category device counters (migration 008) stay exact through every path that writes
devices, and /all and category pages read their totals from them; on PostgreSQL the page's
rows are read through the primary key, not joined for every device."""

from __future__ import annotations

import peewee as pw
import pytest
from conftest import T0
from test_backup import drop_everything, migrated_after  # noqa: F401 - migrated_after is a fixture

from inventory import backup, catalog, devices, devtools
from inventory.bulk import insert_rows, update_rows
from inventory.devices import search_text_for
from inventory.import_apply import DEVICE_COLUMNS
from inventory.rows import tuples
from models import Category, Device, DeviceCount
from schema import make_router

MIGRATION = "008_device_count"


def counters() -> dict[int, int]:
    """The counter table, category id → n."""
    return dict(tuples(DeviceCount.select(DeviceCount.category, DeviceCount.n)))


def counted() -> dict[int, int]:
    """The same, counted from the devices themselves."""
    return dict(tuples(Device.select(Device.category, pw.fn.COUNT(Device.id))
                       .group_by(Device.category)))


def by_name() -> dict[str, int]:
    """The counters by category name: what each step below pins."""
    names = dict(tuples(Category.select(Category.id, Category.name)))
    return {names[category_id]: n for category_id, n in counters().items()}


def assert_exact() -> None:
    """Counters equal a real count, and every page total agrees with them."""
    expected = counted()
    assert counters() == expected
    assert devices.page_all(1, T0).total == sum(expected.values())
    for category_id in dict(tuples(Category.select(Category.id, Category.name))):
        page = devices.page_all(1, T0, category_id=category_id)
        assert page.total == expected.get(category_id, 0)
        assert len(page.rows) == min(expected.get(category_id, 0), devices.PAGE_SIZE)


def new_device(number: int, category: str) -> dict:
    """catalog.create_device's values for a device."""
    return {"number": number, "name": f"Весы {number}", "serial": f"SN-{number}",
            "category": category}


def test_counters_follow_single_writes(backend, conn, seed, clock):
    admin = seed.person(900, "admin@company.ru")
    for number in (1, 2, 3):
        seed.device(number, category="Весы")
    seed.device(4, category="Сканер")
    catalog.create_device(new_device(5, "Сканер"), actor=admin, now=clock.now)
    assert by_name() == {"Весы": 3, "Сканер": 2}
    assert_exact()

    catalog.delete_device(Device.get(Device.number == 2).id, actor=admin, now=clock.now)
    assert by_name() == {"Весы": 2, "Сканер": 2}
    assert_exact()

    # A move, into a category the edit creates, and another between existing ones.
    catalog.update_field(Device.get(Device.number == 1).id, "category", "Принтер",
                         actor=admin, now=clock.now)
    catalog.update_field(Device.get(Device.number == 4).id, "category", "Весы",
                         actor=admin, now=clock.now)
    assert by_name() == {"Весы": 2, "Сканер": 1, "Принтер": 1}
    assert_exact()

    # Writes that leave the category alone: the same category again, other fields, a lock.
    three = Device.get(Device.number == 3)
    catalog.update_field(three.id, "category", "Весы", actor=admin, now=clock.now)
    catalog.update_field(three.id, "name", "Весы Штрих", actor=admin, now=clock.now)
    conn.execute_sql('UPDATE "device" SET "id" = "id"')
    assert by_name() == {"Весы": 2, "Сканер": 1, "Принтер": 1}
    assert_exact()


def test_the_last_device_of_a_category_takes_its_row(backend, conn, seed, clock):
    admin = seed.person(900, "admin@company.ru")
    seed.device(1, category="Весы")
    only = seed.device(2, category="Сканер")
    catalog.update_field(only.id, "category", "Весы", actor=admin, now=clock.now)
    assert by_name() == {"Весы": 2}
    scanners = Category.get(Category.name == "Сканер")
    assert devices.page_all(3, T0, category_id=scanners.id) == devices.Page([], 1, 1, 0)
    Device.delete().execute()
    assert counters() == {}
    assert devices.page_all(2, T0) == devices.Page([], 1, 1, 0)


def test_counters_follow_bulk_writes(backend, conn, seed, clock):
    scales, scanners = seed.category("Весы"), seed.category("Сканер")
    Device.insert_many([{"number": n, "name": f"Весы {n}", "serial": f"SN-{n}",
                         "category": scales if n % 3 else scanners,
                         "search_text": search_text_for(f"Весы {n}", f"SN-{n}")}
                        for n in range(1, 31)]).execute()
    assert by_name() == {"Весы": 20, "Сканер": 10}
    assert_exact()

    # The imports' multi-row statements: INSERT … VALUES and UPDATE … FROM (VALUES …).
    printers = seed.category("Принтер")
    insert_rows(Device, DEVICE_COLUMNS, [
        (n, f"Принтер {n}", printers.id, f"SN-{n}", None, "", "",
         search_text_for(f"Принтер {n}", f"SN-{n}"), clock.now, clock.now)
        for n in range(31, 36)])
    moved = [i for (i,) in tuples(Device.select(Device.id).where(Device.number <= 6))]
    update_rows(Device, ("category",), [(i, printers.id) for i in moved])
    assert by_name() == {"Весы": 16, "Сканер": 8, "Принтер": 11}
    assert_exact()
    # Two devices swapping categories in one statement: the moves cancel out.
    seven, nine = Device.get(Device.number == 7), Device.get(Device.number == 9)
    update_rows(Device, ("category",), [(seven.id, scanners.id), (nine.id, scales.id)])
    assert Device.get_by_id(seven.id).category_id == scanners.id
    assert by_name() == {"Весы": 16, "Сканер": 8, "Принтер": 11}
    assert_exact()

    Device.delete().where(Device.number.between(10, 19)).execute()
    assert by_name() == {"Весы": 9, "Сканер": 5, "Принтер": 11}
    assert_exact()

    # The devtools purge of a category: every free device of it goes.
    ids = [i for (i,) in tuples(Device.select(Device.id).where(Device.category == scanners))]
    devtools.purge(ids, person=None, telegram_id=901, now=clock.now, category="Сканер")
    assert by_name() == {"Весы": 9, "Принтер": 11}
    assert_exact()


def test_a_category_with_devices_cannot_go_and_an_empty_one_leaves_no_row(backend, conn, seed):
    seed.device(1, category="Весы")
    seed.device(2, category="Сканер")
    scales = Category.get(Category.name == "Весы")
    with pytest.raises(pw.IntegrityError), conn.atomic():
        Category.delete().where(Category.id == scales.id).execute()
    assert by_name() == {"Весы": 1, "Сканер": 1}
    Device.delete().where(Device.number == 1).execute()
    Category.delete().where(Category.id == scales.id).execute()
    assert by_name() == {"Сканер": 1}
    assert_exact()


def test_emptying_the_tables_empties_the_counters(backend, conn, seed):
    # A restore with --force empties every table first: PostgreSQL with TRUNCATE … CASCADE
    # (no row trigger fires; the foreign key to category empties the counters), SQLite with
    # DELETEs (the triggers count down).
    for number in range(1, 6):
        seed.device(number, category="Весы" if number % 2 else "Сканер")
    with conn.atomic():
        backup.empty_tables(conn)
        assert counters() == {}


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_truncating_devices_alone_empties_the_counters(backend, conn, seed):
    # TRUNCATE fires no row trigger: a statement trigger empties the counters instead.
    seed.device(1, category="Весы")
    conn.execute_sql("TRUNCATE device CASCADE")
    assert counters() == {}
    seed.device(2, category="Весы")
    assert by_name() == {"Весы": 1}


def dumped_state(seed) -> dict[str, int]:
    """Devices in three categories; returns the counters the dump below holds."""
    for number in range(1, 8):
        seed.device(number, category=("Весы", "Сканер", "Принтер")[number % 3])
    Device.delete().where(Device.number == 3).execute()
    return by_name()


def test_a_restore_counts_the_restored_devices(backend, conn, seed, clock):
    at_dump = dumped_state(seed)
    assert at_dump == {"Весы": 1, "Сканер": 3, "Принтер": 2}
    raw = backup.make_dump(conn, T0).data
    # Changed after the dump: all of it must be gone, and counted as gone, after the restore.
    for number in range(10, 15):
        seed.device(number, category="Кассы")
    Device.delete().where(Device.number.in_([1, 2])).execute()
    assert by_name() == {"Весы": 1, "Сканер": 2, "Принтер": 1, "Кассы": 5}
    backup.restore(conn, raw, force=True)
    assert by_name() == at_dump
    assert_exact()
    seed.device(20, category="Сканер")  # and the triggers go on counting
    assert by_name() == {**at_dump, "Сканер": 4}
    assert_exact()


@pytest.mark.usefixtures("migrated_after")
def test_a_restore_into_a_new_database_counts_the_devices(backend, database, conn, seed, clock):
    at_dump = dumped_state(seed)
    raw = backup.make_dump(conn, T0).data
    drop_everything(conn)
    assert "devicecount" not in conn.get_tables()
    assert backup.restore(conn, raw).migrated
    assert by_name() == at_dump
    assert_exact()


@pytest.mark.usefixtures("migrated_after")
def test_wipe_leaves_empty_counters_that_count_again(backend, database, conn, seed, clock):
    dumped_state(seed)
    backup.wipe(conn)
    assert counters() == {}
    seed.device(1, category="Весы")
    assert by_name() == {"Весы": 1}
    assert_exact()


def test_migration_counts_the_devices_already_there(backend, conn, seed):
    router = make_router(conn)
    while MIGRATION in router.done:
        router.rollback()
    try:
        assert "devicecount" not in conn.get_tables()
        for number in range(1, 8):  # written with no trigger to count them
            seed.device(number, category="Весы" if number % 3 else "Сканер")
        Device.delete().where(Device.number == 1).execute()
        assert MIGRATION in router.run()
    finally:
        router.run()  # a failure above must not leave the shared database behind
    assert by_name() == {"Весы": 4, "Сканер": 2}
    assert_exact()
    seed.device(8, category="Сканер")  # and counts from now on
    assert by_name() == {"Весы": 4, "Сканер": 3}


def seq_scanned(plan: dict) -> set[str]:
    """Tables an EXPLAIN (FORMAT JSON) plan reads whole."""
    found = {plan["Relation Name"]} if plan["Node Type"] == "Seq Scan" else set()
    for child in plan.get("Plans", []):
        found |= seq_scanned(child)
    return found


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_postgres_page_reads_its_devices_by_id(backend, conn, seed, clock):
    scales = seed.category("Весы")
    Device.insert_many([{"number": n, "name": f"Весы {n}", "serial": f"SN-{n}",
                         "category": scales, "search_text": search_text_for("Весы", f"SN-{n}")}
                        for n in range(1, 5001)]).execute()
    conn.execute_sql("ANALYZE")
    for listing in (devices._listing(clock.now, 40), devices._listing(clock.now, 0, scales.id)):
        sql, params = listing.sql()
        (plan,), = conn.execute_sql(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchone()
        assert "device" not in seq_scanned(plan["Plan"])
    assert [r.device.number for r in devices.page_all(6, clock.now).rows] == list(range(41, 49))
