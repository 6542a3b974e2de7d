"""Search reads only its rarest trigrams' lists and checks each candidate: a scan's rows."""

from __future__ import annotations

import random
import shutil

import peewee as pw
import pytest

from bench.statements import StatementCounter, drop_connections
from inventory import devices, search_plan
from inventory.devices import normalize, search_text_for
from inventory.search_plan import CAP_POSTGRES, CAP_SQLITE, PICK, TTL, GramCounts, windows
from models import Device, db, make_database

# Serial families sharing long prefixes (as one make's devices do), and every character the
# two indexes treat specially: FTS5's double quote, LIKE's wildcards and escape, spaces.
DEVICES = [(f"Эвотор {n}", f"ZN{n:08d}", "Онлайн-касса") for n in (1, 12, 123, 1230, 12300, 33333)]
DEVICES += [("Атол 91Ф", 'КАБ"ЕЛЬ"-1', "Кабели"), ("Весы Штрих", "Yo-100%", "Весы"),
            ("Сканер Honeywell", "HW_55", "Сканеры ШК"), ("Принтер этикеток", "PR\\9", "Весы"),
            ("Ёлка ёмкая", "ZN0003333", "Прочее ёмкое"), ("эвотор эвотор", "zn 00 333", "Весы")]


def reference(needle: str) -> list[int]:
    """The numbers a scan in Python finds: name, serial or category contains the needle."""
    folded = normalize(needle)
    return [n for n, (name, serial, category) in enumerate(DEVICES, start=1)
            if folded and (folded in search_text_for(name, serial)
                           or folded in normalize(category))]


def needles() -> list[str]:
    """Pieces of the stored texts, some with one character changed (fixed seed)."""
    rng = random.Random(20261203)
    texts = [search_text_for(name, serial).replace("\n", " ") for name, serial, _ in DEVICES]
    found = []
    for _ in range(60):
        text = rng.choice(texts)
        start = rng.randrange(len(text) - 3)
        piece = text[start:start + rng.randint(3, 10)]
        if rng.random() < 0.3:
            at = rng.randrange(len(piece))
            piece = piece[:at] + rng.choice("0359зн\"%_") + piece[at + 1:]
        found.append(piece)
    return found


@pytest.fixture
def stocked(seed):
    for number, (name, serial, category) in enumerate(DEVICES, start=1):
        seed.device(number, name=name, serial=serial, category=category)


def found(needle: str, now) -> list[int]:
    """The sticker numbers a search lists, every page of it."""
    numbers, page, pages = [], 1, 1
    while page <= pages:
        result = devices.search(needle, page, now)
        numbers += [row.device.number for row in result.rows]
        pages, page = result.pages, page + 1
    return sorted(numbers)


CAP = 1000  # the unit tests' cap: a count of CAP is common


def pieces(needle: str, counts: dict[str, int]) -> list[str]:
    """The pieces under the unit tests' cap."""
    return search_plan.pieces(needle, counts, CAP)


def use_cap(monkeypatch, cap: int) -> None:
    """Both databases treat `cap` devices as common."""
    monkeypatch.setattr(search_plan, "CAP_SQLITE", cap)
    monkeypatch.setattr(search_plan, "CAP_POSTGRES", cap)


# Cap 1: only a trigram no device holds is rare, so most needles go through the whole needle;
# 3: some trigrams are common and some rare; the databases' own: every trigram is rare here.
@pytest.mark.parametrize("cap", [1, 3, None])
def test_every_plan_finds_what_a_scan_finds(backend, stocked, clock, monkeypatch, cap):
    if cap is not None:
        use_cap(monkeypatch, cap)
    for needle in needles() + ["zn0000", "333", "00 333", 'ель"', "100%", "hw_5", "pr\\9", "весы"]:
        assert found(needle, clock.now) == reference(needle), needle


def test_a_device_found_by_its_text_and_its_category_counts_once(backend, stocked, clock):
    page = devices.search("весы", 1, clock.now)  # «Весы Штрих» is in the category «Весы»
    assert [row.device.number for row in page.rows] == [8, 10, 12] == reference("весы")
    assert page.total == 3


def test_a_stale_count_costs_time_not_rows(backend, stocked, clock, seed):
    assert found("zn0003", clock.now) == reference("zn0003")  # counted: «zn0» is in 7 devices
    for number in range(20, 30):  # now «zn0» and «003» are in many more
        seed.device(number, name="Эвотор", serial=f"ZN0003{number:04d}")
    assert found("zn0003", clock.now) == reference("zn0003") + list(range(20, 30))
    Device.delete().where(Device.number.in_([1, 20, 21])).execute()
    assert found("zn0003", clock.now) == [n for n in reference("zn0003") if n != 1] + list(
        range(22, 30))


def test_a_search_counts_its_trigrams_once(backend, stocked, clock, conn):
    sent = []
    with StatementCounter() as counter:
        drop_connections(conn)
        devices.search("атол", 1, clock.now)  # opens the connection: its set-up is not counted
        for _ in range(3):
            counter.reset()
            devices.search("zn00033333", 1, clock.now)
            sent.append(counter.count)
    conn.connect(reuse_if_open=True)
    assert sent[0] == sent[1] + 1 and sent[1] == sent[2], sent


class Counter:
    """A count function over a table of counts that records what it was asked."""

    def __init__(self, table: dict[str, int]) -> None:
        self.table = table
        self.asked: list[list[str]] = []

    def __call__(self, grams: list[str]) -> list[int]:
        self.asked.append(list(grams))
        return [min(self.table[g], CAP) for g in grams]


def test_counts_are_asked_once_for_every_unknown_gram():
    count = Counter({"abc": 40, "bcd": 5000, "cde": 2})
    counts = GramCounts()
    assert counts.counts("db", ["abc", "bcd", "cde"], count) == {"abc": 40, "bcd": CAP, "cde": 2}
    assert counts.counts("db", ["cde", "abc"], count) == {"cde": 2, "abc": 40}
    assert counts.counts("db", [], count) == {}
    assert count.asked == [["abc", "bcd", "cde"]]


def test_counts_are_trusted_for_ttl_seconds_and_per_database():
    now = [100.0]
    counts = GramCounts(clock=lambda: now[0])
    count = Counter({"abc": 1, "bcd": 9, "cde": 4})
    counts.counts("db", ["abc", "bcd"], count)
    count.table.update(abc=500, bcd=3)
    now[0] += TTL - 0.5
    assert counts.counts("db", ["abc", "bcd", "cde"], count) == {"abc": 1, "bcd": 9, "cde": 4}
    assert count.asked == [["abc", "bcd"], ["cde"]]
    now[0] += 0.5  # abc and bcd are TTL old now; cde is not
    assert counts.counts("db", ["abc", "bcd", "cde"], count) == {"abc": 500, "bcd": 3, "cde": 4}
    assert count.asked[2:] == [["abc", "bcd"]]
    counts.counts("other", ["cde"], count)
    assert count.asked[3:] == [["cde"]]
    counts.forget()
    counts.counts("db", ["cde"], count)
    assert count.asked[4:] == [["cde"]]


def test_the_kept_counts_start_afresh_past_the_limit(monkeypatch):
    monkeypatch.setattr(search_plan, "LIMIT", 3)
    counts = GramCounts(clock=lambda: 0.0)
    count = Counter({g: 1 for g in ("aaa", "bbb", "ccc", "ddd")})
    counts.counts("db", ["aaa", "bbb", "ccc"], count)
    counts.counts("db", ["ccc"], count)
    counts.counts("db", ["ddd"], count)  # four would pass the limit: all are dropped first
    counts.counts("db", ["ccc", "ddd"], count)
    assert count.asked == [["aaa", "bbb", "ccc"], ["ddd"], ["ccc"]]
    counts.forget()
    counts.counts("db", ["aaa", "bbb"], count)
    counts.counts("db", ["ccc"], count)  # exactly the limit: nothing is dropped
    counts.counts("db", ["aaa", "bbb", "ccc"], count)
    assert count.asked[3:] == [["aaa", "bbb"], ["ccc"]]


def test_pieces_are_the_longest_runs_of_rare_grams_rarest_first():
    # zn0 n00 000 003 033 333 333 333: the first four common, «033» rarer than the cap.
    counts = {"zn0": CAP, "n00": CAP, "000": CAP, "003": CAP, "033": 900, "333": 280}
    assert pieces("zn00033333", counts) == ["033333"]
    assert pieces("zn00033333", {**counts, "033": CAP}) == ["33333"]
    assert pieces("zn00033333", {**counts, "003": 5}) == ["0033333"]
    # Two runs apart: the one with the rarer gram first, then the other; a third is left out.
    counts = {"abc": 7, "bcx": CAP, "cxy": CAP, "xyz": 3, "yzq": 50, "zqq": CAP, "qqr": CAP,
              "qrs": 1, "rst": CAP}
    assert pieces("abcxyzqqrst", counts) == ["qrs", "xyzq"][:PICK]
    assert pieces("abcxyzqqrst", {**counts, "qrs": CAP}) == ["xyzq", "abc"]
    # The rarer gram decides, not the length; at the same rarity the longer piece comes first.
    assert pieces("abcdxy", {"abc": 2, "bcd": 2, "cdx": CAP, "dxy": 2}) == ["abcd", "dxy"]
    assert pieces("abcdxy", {"abc": 9, "bcd": 9, "cdx": CAP, "dxy": 2}) == ["dxy", "abcd"]
    # A run at the very end, the whole needle, and a gram without a count (never rare).
    assert pieces("aaab", {"aaa": CAP, "aab": 0}) == ["aab"]
    assert pieces("abcd", {"abc": 1, "bcd": 1}) == ["abcd"]
    assert pieces("abcd", {"abc": 1}) == ["abc"]
    assert pieces("ab", {}) == [] and pieces("", {}) == []
    assert pieces("abcd", {"abc": CAP, "bcd": CAP}) == []


def test_two_pieces_are_looked_up_together(backend, stocked, clock, seed, monkeypatch):
    # With a cap of 3, «111» (in three devices) is common: «qwe111rty» has two rare pieces.
    use_cap(monkeypatch, 3)
    # Each database goes by its own cap: under the other's, every trigram would be common.
    monkeypatch.setattr(search_plan, "CAP_POSTGRES" if backend == "sqlite" else "CAP_SQLITE", 1)
    seed.device(30, name="Весы", serial="QWE111RTY")
    seed.device(31, name="Весы", serial="AB111CD")
    seed.device(32, name="Весы", serial="QWE11-11RTY")  # both pieces, not the whole needle
    seed.device(33, name="Весы", serial="X111Y")
    assert found("qwe111rty", clock.now) == [30]
    sql, params = search_plan.matches_sql("qwe111rty")
    # Equally rare and long: in text order.
    pieces_found = ['"11rty"', '"qwe11"'] if backend == "sqlite" else ["%11rty%", "%qwe11%"]
    assert " AND ".join(pieces_found) in params if backend == "sqlite" else (
        params[:2] == pieces_found), (sql, params)


def test_windows_are_the_distinct_trigrams_an_index_can_look_up():
    assert windows("zn000003", sqlite=True) == ["zn0", "n00", "000", "003"]
    assert windows("ab", sqlite=True) == []
    assert windows('a"-- b', sqlite=True) == ['a"-', '"--', "-- ", "- b"]
    # pg_trgm indexes words: a window of punctuation and spaces only has nothing in its index.
    assert windows('a"-- b', sqlite=False) == ['a"-', "- b"]
    assert windows("ёж 1", sqlite=False) == ["ёж ", "ж 1"]


def test_every_database_keeps_its_own_counts(tmp_path, sqlite_template, clock):
    sent: list[str] = []

    def recorded(name: str) -> pw.Database:
        shutil.copy(sqlite_template, tmp_path / f"{name}.db")
        database = make_database(f"sqlite:///{tmp_path / name}.db")
        run = database.execute_sql
        database.execute_sql = lambda sql, *args, **kwargs: (sent.append(sql),
                                                              run(sql, *args, **kwargs))[1]
        return database

    def counts_sent(database: pw.Database) -> int:
        db.initialize(database)
        sent.clear()
        devices.search("zn0000", 1, clock.now)
        return sum(f"LIMIT {CAP_SQLITE}" in sql for sql in sent)

    a, b = recorded("a"), recorded("b")
    try:
        assert [counts_sent(a), counts_sent(b), counts_sent(a), counts_sent(b)] == [1, 1, 0, 0]
    finally:
        a.close()
        b.close()


def test_the_postgres_statements_read_as_the_postgres_tests_run_them():
    """The SQL text of each PostgreSQL statement (`make mutation` runs on SQLite only)."""
    like = "search_text LIKE %s ESCAPE '\\'"
    count = f"(SELECT count(*) FROM (SELECT 1 FROM device WHERE {like} LIMIT {CAP_POSTGRES}) AS c)"
    assert search_plan.count_sql(["abc", "a%_"], sqlite=False) == (
        f"SELECT {count}, {count}", ["%abc%", "%a\\%\\_%"])
    category = ("SELECT d.id, d.number FROM category AS c, LATERAL (SELECT id, number FROM device "
                "WHERE category_id = c.id AND strpos(search_text, %s) = 0 OFFSET 0) AS d "
                "WHERE strpos(devtrack_fold(c.name), %s) > 0")
    assert search_plan.plan_sql("qwe111rty", ["11rty", "qwe11"], sqlite=False) == (
        f"SELECT id, number FROM device WHERE {like} AND {like} AND strpos(search_text, %s) > 0 "
        f"UNION ALL {category}", ["%11rty%", "%qwe11%", "qwe111rty", "qwe111rty", "qwe111rty"])
    assert search_plan.plan_sql("a%c", [], sqlite=False) == (
        f"SELECT id, number FROM device WHERE {like} AND strpos(search_text, %s) > 0 "
        f"UNION ALL {category}", ["%a\\%c%", "a%c", "a%c", "a%c"])


def test_a_sqlite_piece_runs_through_punctuation(backend, stocked, clock, seed):
    if backend != "sqlite":
        pytest.skip("pg_trgm has no trigram of punctuation alone")
    seed.device(40, name="Кабель", serial="AB -- CD")
    sql, params = search_plan.matches_sql("b -- c")  # « --» and «-- » are trigrams to FTS5
    assert params[0] == '"b -- c"' and found("b -- c", clock.now) == [40], (sql, params)


def test_a_long_message_counts_a_bounded_number_of_trigrams(backend, stocked, clock,
                                                           monkeypatch):
    needle = "zn00033333 " + "".join(chr(0x430 + i % 32) + str(i) for i in range(1500))
    asked: list[int] = []
    real = search_plan.count_sql

    def counting(grams, sqlite):
        asked.append(len(grams))
        return real(grams, sqlite)

    monkeypatch.setattr(search_plan, "count_sql", counting)
    assert found(needle, clock.now) == reference(needle) == []
    assert found("zn00033333", clock.now) == reference("zn00033333") == [6]
    assert asked == [search_plan.COUNTED]  # the serial's trigrams were among those counted
