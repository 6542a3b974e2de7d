"""inventory/devices.py and the small helpers under it against mutants.

Lists, pages and search run over more devices than a page holds, in several categories, with
loans, returned loans and holds on some of them, so a lost filter, a changed page boundary or a
lost order by number changes what a test sees (see docs/mutation.md). The README promises /all
and search results by sticker number.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import peewee as pw
import pytest
from conftest import T0

from inventory import devices, loans, search_plan
from inventory.devices import DeviceRow, Page
from inventory.errors import NotFound
from inventory.numbers import NO_SUCH_ID, ascii_digits, button_argument, sticker_number
from inventory.rows import primary_key, tuples
from inventory.sql import escape_like, like_pattern
from models import Category, Device, Loan, Person, QueueEntry

TODAY = date(2026, 11, 26)


def numbers(page: Page) -> list[int]:
    """The sticker numbers of a page, in its order."""
    return [row.device.number for row in page.rows]


@pytest.fixture
def shelf(backend: str, seed: Any, clock: Any) -> dict[str, Any]:
    """20 devices in three categories (numbers not in id order), two held, one with a hold."""
    made: dict[int, Device] = {}
    # Created out of number order, so an order by id is not an order by number.
    for number in [*range(20, 10, -1), *range(1, 11)]:
        category = "Весы" if number % 3 == 0 else "Онлайн-касса"
        name = f"Касса {number}" if number % 3 else f"Весы {number}"
        made[number] = seed.device(number * 10, name=name, serial=f"SN-{number:03d}",
                                   category=category)
    seed.category("Сканеры")
    people = [seed.person(100 + i, f"p{i}@company.ru", name=f"Человек {i}") for i in range(3)]
    seed.loan(made[2], people[0], due=date(2026, 11, 20), place="склад")
    seed.loan(made[4], people[1])
    seed.loan(made[5], people[2])
    loans.return_device(made[5].id, people[2], now=clock.now)
    hold_until = clock.now + timedelta(hours=2)
    QueueEntry.create(device=made[7], person=people[2], joined_at=clock.now,
                      hold_until=hold_until, created_at=clock.now, updated_at=clock.now)
    QueueEntry.create(device=made[7], person=people[1], joined_at=clock.now + timedelta(seconds=1),
                      created_at=clock.now, updated_at=clock.now)
    QueueEntry.create(device=made[2], person=people[1], joined_at=clock.now,
                      created_at=clock.now, updated_at=clock.now)
    return {"d": made, "p": people, "hold_until": hold_until}


# --- rows and the card -----------------------------------------------------------------------


def test_card_carries_the_open_loan_holder_and_live_hold(shelf: dict[str, Any],
                                                         clock: Any) -> None:
    """A held device shows its holder; a free one none; a live hold shows whose it is."""
    d, p = shelf["d"], shelf["p"]
    held = devices.card(d[2].id, clock.now)
    assert (held.device.number, held.holder, held.loan.place, held.hold) == (20, p[0], "склад",
                                                                            None)
    assert held.device.category.name == "Онлайн-касса"
    assert held.overdue_days(TODAY) == 6
    assert held.overdue_days(date(2026, 11, 20)) == 0
    assert held.overdue_days(date(2026, 11, 21)) == 1
    assert held.overdue_days(date(2026, 11, 1)) == 0
    returned = devices.card(d[5].id, clock.now)
    assert (returned.loan, returned.holder, returned.hold) == (None, None, None)
    assert returned.overdue_days(TODAY) == 0
    undated = devices.card(d[4].id, clock.now)
    assert (undated.holder, undated.overdue_days(TODAY)) == (p[1], 0)
    hold = devices.card(d[7].id, clock.now)
    assert hold.loan is None
    assert (hold.hold.person, hold.hold.hold_until) == (p[2], shelf["hold_until"])
    # A hold that ends exactly now is over.
    assert devices.card(d[7].id, shelf["hold_until"]).hold is None
    assert devices.card(d[7].id, shelf["hold_until"] - timedelta(seconds=1)).hold is not None
    with pytest.raises(NotFound) as missing:
        devices.card(10_000, clock.now)
    assert missing.value.details == {"device_id": 10_000}


def test_with_holder_and_open_loan_of(shelf: dict[str, Any]) -> None:
    """with_holder joins only the open loan; open_loan_of reads None for a free device."""
    d, p = shelf["d"], shelf["p"]
    rows = {r.number: r for r in devices.with_holder().where(Device.id.in_(
        [d[2].id, d[5].id, d[6].id]))}
    assert devices.open_loan_of(rows[20]).person == p[0]
    assert devices.open_loan_of(rows[50]) is None
    assert devices.open_loan_of(rows[60]) is None
    assert devices.open_loan_of(Device.get_by_id(d[2].id)) is None
    assert DeviceRow(rows[60], None).holder is None


def test_by_number_finds_only_that_number(shelf: dict[str, Any]) -> None:
    """A sticker number names one device; an unused one is NotFound."""
    assert devices.by_number(30).id == shelf["d"][3].id
    with pytest.raises(NotFound) as missing:
        devices.by_number(31)
    assert missing.value.details == {"number": 31}


# --- /all and category pages -----------------------------------------------------------------


def test_all_pages_go_by_number_and_clamp(shelf: dict[str, Any], clock: Any) -> None:
    """/all: eight a page by sticker number; page 0 is the first, a page too far the last."""
    first = devices.page_all(1, clock.now)
    assert (numbers(first), first.page, first.pages, first.total) == (
        [10, 20, 30, 40, 50, 60, 70, 80], 1, 3, 20)
    assert numbers(devices.page_all(2, clock.now)) == [90, 100, 110, 120, 130, 140, 150, 160]
    last = devices.page_all(3, clock.now)
    assert (numbers(last), last.page) == ([170, 180, 190, 200], 3)
    assert numbers(devices.page_all(0, clock.now)) == numbers(first)
    assert devices.page_all(-5, clock.now).page == 1
    far = devices.page_all(10**12, clock.now)
    assert (numbers(far), far.page, far.pages) == ([170, 180, 190, 200], 3, 3)
    rows = {r.device.number: r for r in first.rows}
    assert rows[20].holder == shelf["p"][0]
    assert rows[50].holder is None and rows[50].loan is None
    assert rows[70].hold.person == shelf["p"][2]
    assert rows[20].hold is None


def test_category_pages_hold_that_category_only(shelf: dict[str, Any], clock: Any) -> None:
    """A category page lists its devices by number; an empty category is one empty page."""
    scales = Category.get(Category.name == "Весы")
    page = devices.page_all(1, clock.now, category_id=scales.id)
    assert (numbers(page), page.pages, page.total) == ([30, 60, 90, 120, 150, 180], 1, 6)
    till = Category.get(Category.name == "Онлайн-касса")
    second = devices.page_all(2, clock.now, category_id=till.id)
    assert (numbers(second), second.page, second.pages, second.total) == (
        [130, 140, 160, 170, 190, 200], 2, 2, 14)
    empty = devices.page_all(3, clock.now, category_id=Category.get(Category.name == "Сканеры").id)
    assert empty == Page([], 1, 1, 0)


def test_exactly_full_pages_and_no_devices(backend: str, seed: Any, clock: Any) -> None:
    """16 devices make two pages, not three; no device at all is one empty page."""
    assert devices.page_all(2, clock.now) == Page([], 1, 1, 0)
    for number in range(1, 17):
        seed.device(number)
    page = devices.page_all(5, clock.now)
    assert (page.page, page.pages, page.total, numbers(page)) == (
        2, 2, 16, list(range(9, 17)))
    assert devices.search("эвотор", 9, clock.now).pages == 2
    assert devices.search("sn", 9, clock.now).pages == 2
    seed.device(17)
    assert devices.page_all(1, clock.now).pages == 3
    middle = devices.search("эвотор", 2, clock.now)
    assert (numbers(middle), middle.page, middle.pages, middle.total) == (
        list(range(9, 17)), 2, 3, 17)


def test_category_counts_free_and_total_by_name(shelf: dict[str, Any]) -> None:
    """Each category with free and total devices (returned loans free), sorted by name."""
    counts = [(c.category.name, c.free, c.total) for c in devices.category_counts()]
    assert counts == [("Весы", 6, 6), ("Онлайн-касса", 12, 14), ("Сканеры", 0, 0)]


def test_ensure_categories_only_fills_an_empty_table(backend: str, conn: Any, clock: Any) -> None:
    """The configured names go in once, without duplicates; a filled table is left alone."""
    assert devices.ensure_categories([], clock.now) == 0
    assert not Category.select().exists()
    assert devices.ensure_categories(("Весы", "Сканеры", "Весы"), clock.now) == 2
    rows = [(c.name, c.created_at, c.updated_at) for c in Category.select().order_by(Category.id)]
    assert rows == [("Весы", clock.now, clock.now), ("Сканеры", clock.now, clock.now)]
    assert devices.ensure_categories(("Прочее",), clock.now) == 0
    assert Category.select().count() == 2


# --- search ----------------------------------------------------------------------------------


def test_search_pages_go_by_number_through_the_index(shelf: dict[str, Any], clock: Any) -> None:
    """A long needle: matches by number, eight a page, clamped, the named device left out."""
    first = devices.search("касса", 1, clock.now)
    assert (numbers(first), first.page, first.pages, first.total) == (
        [10, 20, 40, 50, 70, 80, 100, 110], 1, 2, 14)
    second = devices.search("КАССА", 2, clock.now)
    assert (numbers(second), second.page) == ([130, 140, 160, 170, 190, 200], 2)
    far = devices.search("касса", 50, clock.now)
    assert (numbers(far), far.page, far.pages, far.total) == (numbers(second), 2, 2, 14)
    assert devices.search("касса", 0, clock.now).page == 1
    rows = {r.device.number: r for r in first.rows}
    assert rows[20].holder == shelf["p"][0]
    assert rows[70].hold.person == shelf["p"][2]
    without = devices.search("касса", 1, clock.now, exclude_id=shelf["d"][1].id)
    assert (numbers(without)[:2], without.total) == ([20, 40], 13)
    # A category's name matches every device in it.
    scales = devices.search("весы", 1, clock.now)
    assert numbers(scales) == [30, 60, 90, 120, 150, 180]
    # One page of matches: asking for the second shows the first.
    beyond = devices.search("весы", 2, clock.now)
    assert (numbers(beyond), beyond.page, beyond.pages, beyond.total) == (
        [30, 60, 90, 120, 150, 180], 1, 1, 6)
    assert devices.search("нет такого", 1, clock.now) == Page([], 1, 1, 0)
    assert devices.search("нет такого", 3, clock.now) == Page([], 1, 1, 0)


def test_short_search_pages_by_scan(shelf: dict[str, Any], clock: Any) -> None:
    """A needle under three characters: the same order, total and clamping by a scan."""
    first = devices.search("1", 1, clock.now)
    # Serials SN-001, SN-010..SN-019, names «Касса 1», «Касса 1x», «Весы 12» ...
    assert (numbers(first), first.total, first.pages) == (
        [10, 100, 110, 120, 130, 140, 150, 160], 11, 2)
    second = devices.search("1", 2, clock.now)
    assert (numbers(second), second.page) == ([170, 180, 190], 2)
    far = devices.search("1", 7, clock.now)
    assert (numbers(far), far.page, far.pages, far.total) == ([170, 180, 190], 2, 2, 11)
    assert devices.search("1", 0, clock.now).page == 1
    rows = {r.device.number: r for r in devices.search("сн", 1, clock.now).rows}
    assert not rows  # Cyrillic «сн» is not the Latin serial prefix
    hits = devices.search("sn", 1, clock.now)
    assert hits.total == 20 and hits.rows[1].holder == shelf["p"][0]
    assert devices.search("ве", 1, clock.now).total == 6
    # A category name matched at its first character («Онлайн-касса»).
    assert devices.search("он", 1, clock.now).total == 14
    # Past the end of a scanned search: the last page, holds shown.
    past = devices.search("7", 3, clock.now)
    assert (numbers(past), past.page) == ([70, 170], 1)
    assert past.rows[0].hold.person == shelf["p"][2]
    without = devices.search("1", 1, clock.now, exclude_id=shelf["d"][10].id)
    assert (numbers(without)[:2], without.total) == ([10, 110], 10)
    assert devices.search("  ", 1, clock.now) == Page([], 1, 1, 0)
    assert devices.search("a\x00b", 1, clock.now) == Page([], 1, 1, 0)
    assert devices.search("zz", 4, clock.now) == Page([], 1, 1, 0)


def test_exact_number_and_more_matches(shelf: dict[str, Any], clock: Any) -> None:
    """«№ 30» is device 30; the other devices containing «30» are counted apart from it."""
    Device.update(name="Касса 30 лет", search_text="касса 30 лет\nsn-002").where(
        Device.id == shelf["d"][2].id).execute()
    hit = devices.exact("№ 30", clock.now)
    assert hit is not None and hit.device.number == 30
    assert devices.exact("#20", clock.now).holder == shelf["p"][0]
    assert devices.exact("70", clock.now).hold.person == shelf["p"][2]
    assert devices.exact("31", clock.now) is None
    assert devices.exact("касса", clock.now) is None
    assert devices.more_matches("№30", hit.device.id) == 1
    assert devices.more_matches("30", shelf["d"][2].id) == 0
    assert devices.more_matches("касса", shelf["d"][1].id) == 13
    assert devices.more_matches("", hit.device.id) == 0
    page = devices.search("№30", 1, clock.now, exclude_id=hit.device.id)
    assert numbers(page) == [20]


def test_search_text_and_normalize() -> None:
    """The stored search text: name and serial folded, one line each."""
    assert devices.normalize("  Ёлка   ЁЖИК ") == "елка ежик"
    assert devices.search_text_for("Эвотор  7.2", "ZN-Ё1") == "эвотор 7.2\nzn-е1"


# --- numbers, rows, sql ----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "number"), [
    ("49", 49), (" № 49 ", 49), ("#49", 49), ("№#7", 7), ("1", 1), ("2147483647", 2147483647),
    ("0", None), ("2147483648", None), ("-3", None), ("4.5", None), ("²", None), ("٣", None),
    ("", None), ("№", None), ("49a", None), ("X49", None), ("x49", None),
])
def test_sticker_number(text: str, number: int | None) -> None:
    """Typed sticker numbers: ASCII digits after «№»/«#», 1 to the 32-bit maximum."""
    assert sticker_number(text) == number


def test_ascii_digits_and_button_arguments() -> None:
    """Only ASCII digits count; an integer beyond 64 bits becomes an id no row has."""
    assert ascii_digits("0123") and not ascii_digits("") and not ascii_digits("١٢")
    assert not ascii_digits("12a")
    assert button_argument("9223372036854775807") == "9223372036854775807"
    assert button_argument("9223372036854775808") == str(NO_SUCH_ID)
    assert button_argument("-9223372036854775808") == "-9223372036854775808"
    assert button_argument("-9223372036854775809") == str(NO_SUCH_ID)
    assert button_argument("-5") == "-5"
    assert button_argument("--5") == "--5"
    assert button_argument("9" * 30 + "x") == "9" * 30 + "x"
    assert button_argument("cancel") == "cancel"
    assert NO_SUCH_ID == 2**63 - 1


def test_escape_like_and_pattern(backend: str, conn: Any) -> None:
    """LIKE wildcards and the escape character are taken literally."""
    assert escape_like("a%b_c\\d") == "a\\%b\\_c\\\\d"
    assert escape_like("plain") == "plain"
    Category.create(name="100%_\\x")
    Category.create(name="100 x")
    Category.create(name="1000_x")
    pattern = like_pattern("%" + escape_like("0%_\\") + "%")
    op = pw.OP.ILIKE if isinstance(conn, pw.SqliteDatabase) else pw.OP.LIKE
    found = Category.select(Category.name).where(pw.Expression(Category.name, op, pattern))
    assert [name for (name,) in tuples(found)] == ["100%_\\x"]


def test_tuples_and_primary_key(backend: str, conn: Any) -> None:
    """Rows as tuples; every model's id; a model without one is refused."""
    Category.create(name="Б")
    Category.create(name="А")
    query = Category.select(Category.name, Category.id).order_by(Category.name)
    rows = list(tuples(query))
    assert [row[0] for row in rows] == ["А", "Б"] and all(isinstance(r, tuple) for r in rows)
    assert primary_key(Device) is Device.id and primary_key(Person) is Person.id

    class Log(pw.Model):
        line = pw.TextField()

        class Meta:
            primary_key = False

    with pytest.raises(TypeError, match="Log has no single-column primary key"):
        primary_key(Log)


def test_the_rows_loan_is_the_open_one_after_returned_ones(shelf: dict[str, Any]) -> None:
    """The loan of a row is the open one even after earlier returned loans of the device."""
    d, p = shelf["d"], shelf["p"]
    loans.take(d[5].id, p[0], now=T0 + timedelta(hours=1))
    row = devices.card(d[5].id, datetime(2026, 11, 27))
    assert row.holder == p[0]
    assert Loan.select().where(Loan.device == d[5].id).count() == 2


def statements(fn: Any) -> list[str]:
    """The SQL texts fn sends to the database."""
    database = devices.db.obj
    sent: list[str] = []
    original = database.execute_sql

    def recording(sql: str, *args: Any, **kwargs: Any) -> Any:
        text = sql
        if sql.startswith("EXECUTE "):  # PostgreSQL: the text it prepared under that name
            text = original("SELECT statement FROM pg_prepared_statements WHERE name = %s",
                            [sql.split()[1].split("(")[0]]).fetchone()[0]
        sent.append(text)
        return original(sql, *args, **kwargs)

    database.execute_sql = recording
    try:
        fn()
    finally:
        database.execute_sql = original
    return sent


def test_three_characters_go_through_the_index(shelf: dict[str, Any], clock: Any,
                                               backend: str) -> None:
    """The index serves needles of three characters and more (on SQLite without wildcards)."""
    def indexed(query: str) -> bool:
        return any(" AS m " in sql for sql in statements(
            lambda: devices.search(query, 1, clock.now)))

    assert indexed("кас") and indexed("касса")
    assert not indexed("ка")
    assert indexed("10%") == (backend == "postgres")
    assert indexed("sn_") == (backend == "postgres")
    # SQLite is told which index serves the category half (its statistics would scan).
    hinted = statements(lambda: devices.search("касса", 1, clock.now))
    assert any("INDEXED BY device_category_id" in sql for sql in hinted) == (backend == "sqlite")
    # Nothing found on the first page: one statement, no count of what is not there (after
    # the first search, which counts the needle's trigrams in a statement of its own).
    first = statements(lambda: devices.search("нет такого", 1, clock.now))
    assert len(first) == 2 and f"LIMIT {search_plan.cap(backend == 'sqlite')}" in first[0]
    assert len(statements(lambda: devices.search("нет такого", 1, clock.now))) == 1
    # A scanned search: the page's ids with their total in one scan, then their rows by id.
    scanned = statements(lambda: devices.search("1", 2, clock.now))
    assert len(scanned) == 2 and sum("LIKE" in sql for sql in scanned) == 1
    # A later page of nothing: the page and one count, no fetch of a page that cannot exist.
    assert len(statements(lambda: devices.search("нет такого", 3, clock.now))) == 2


def test_lists_and_the_card_load_categories_and_holders_in_their_own_statements(
        shelf: dict[str, Any], clock: Any) -> None:
    """/all is a count and one page query, the card one query: categories and people included."""
    def read(rows: Any) -> list[Any]:
        return [(r.device.category.name, r.holder and r.holder.email,
                 r.hold and r.hold.person.email) for r in rows]

    assert len(statements(lambda: read(devices.page_all(1, clock.now).rows))) == 2
    assert len(statements(lambda: read([devices.card(shelf["d"][2].id, clock.now)]))) == 1
    assert len(statements(lambda: read([devices.card(shelf["d"][7].id, clock.now)]))) == 1
    assert len(statements(lambda: read([devices.exact("20", clock.now)]))) == 1


def test_card_and_list_rows_carry_every_column_shown_and_none_written_only(
        shelf: dict[str, Any], clock: Any) -> None:
    """The rows leave out the timestamps and the search column (no screen shows them)."""
    held = devices.card(shelf["d"][2].id, clock.now)
    on_hold = devices.card(shelf["d"][7].id, clock.now)
    listed = devices.page_all(1, clock.now).rows
    for device in [held.device, on_hold.device, *(r.device for r in listed)]:
        assert (device.created_at, device.updated_at, device.search_text) == (None, None, None)
        stored = Device.get_by_id(device.id)
        assert (device.number, device.name, device.serial, device.firmware, device.comment,
                device.registered_on, device.labelled_at, device.category.name) == (
            stored.number, stored.name, stored.serial, stored.firmware, stored.comment,
            stored.registered_on, stored.labelled_at, stored.category.name)
    assert held.loan.updated_at is None and held.holder.created_at is None
    assert (on_hold.hold.hold_until, on_hold.hold.person.email) == (
        shelf["hold_until"], shelf["p"][2].email)
    assert on_hold.hold.updated_at is None and on_hold.hold.person.updated_at is None
    assert (held.loan.taken_at, held.loan.due_date, held.holder.email) == (
        Loan.get_by_id(held.loan.id).taken_at, Loan.get_by_id(held.loan.id).due_date,
        Person.get_by_id(held.holder.id).email)
