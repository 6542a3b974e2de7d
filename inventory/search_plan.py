"""How an indexed search selects its matches: through the rarest pieces of the needle.

A trigram index answers a substring by intersecting the posting lists of every trigram of the
needle. Serials of one make share most of theirs («zn0», «n00», «000» in ZN00033333), so at
100,000 devices those few lists were most of a search's time, on both databases. The index is
asked instead for the needle's longest pieces made of rare trigrams only («33333»), and each
candidate is checked for the whole needle with a plain substring test: the same rows. How rare
a trigram is comes from a capped count kept for a minute: a count only chooses what the index
reads, the rows always come from the check, so a stale count costs time, never a wrong answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable

import peewee as pw

from inventory.sql import substring_pattern
from models import db

logger = logging.getLogger(__name__)

# A trigram in this many devices is common: counting further costs more than it tells. An FTS5
# count reads the trigram's list alone (4,000 cost 2 ms at 100,000 devices); a pg_trgm count
# rechecks every row it counts in the table (1,000 cost 4 ms), so PostgreSQL stops earlier.
CAP_SQLITE = 4000
CAP_POSTGRES = 1000
TTL = 60.0  # seconds a count is trusted (a bulk import changes them wholesale)
PICK = 2  # pieces the index looks up per search: two leave few candidates
LIMIT = 4096  # counts kept before the cache starts afresh
COUNTED = 32  # trigrams counted per needle: a long message must not make a huge statement

# Every match, (id, number): the devices through the trigram index (SQLite: the FTS5 table
# device_fts; PostgreSQL: pg_trgm's GIN, which serves LIKE), then the devices of a category whose
# name matches and whose own text does not. Every device half selects exactly the devices whose
# text contains the needle, so the halves never share a row and UNION ALL needs no duplicate
# check: PostgreSQL's check was a hash table sized by its guess of a category's devices (2/7 of
# the inventory), set up on every search even when no category matched.
# SQLite's statistics see seven categories and would scan: its index is named.
_CATEGORY_SQLITE = (
    "SELECT id, number FROM device INDEXED BY device_category_id WHERE category_id IN "
    "(SELECT id FROM category WHERE instr(devtrack_fold(name), ?) > 0) "
    "AND instr(search_text, ?) = 0")
# The lateral subquery runs once per matching category (none: never); OFFSET 0 keeps PostgreSQL
# from flattening it into a join that filters every device before it looks at the categories.
_CATEGORY_POSTGRES = (
    "SELECT d.id, d.number FROM category AS c, LATERAL (SELECT id, number FROM device "
    "WHERE category_id = c.id AND strpos(search_text, %s) = 0 OFFSET 0) AS d "
    "WHERE strpos(devtrack_fold(c.name), %s) > 0")
# The pieces through the index (the whole needle when every trigram of it is common), each
# candidate checked for the whole needle.
_LOOKUP_SQLITE = "id IN (SELECT rowid FROM device_fts WHERE device_fts MATCH ?)"
_PIECE_POSTGRES = "search_text LIKE %s ESCAPE '\\'"
# One capped count per trigram, each through the same index as the search.
_COUNT_SQLITE = "(SELECT count(*) FROM (SELECT 1 FROM device_fts WHERE device_fts MATCH ? " \
    "LIMIT {cap}))"
_COUNT_POSTGRES = f"(SELECT count(*) FROM (SELECT 1 FROM device WHERE {_PIECE_POSTGRES} " \
    "LIMIT {cap}) AS c)"


def windows(needle: str, sqlite: bool) -> list[str]:
    """The needle's distinct trigrams the index can look up, in order.

    pg_trgm indexes words: a window without a letter or digit gives it nothing to look up.
    """
    found = dict.fromkeys(needle[i:i + 3] for i in range(len(needle) - 2))
    return [g for g in found if sqlite or any(c.isalnum() for c in g)]


class GramCounts:
    """Capped counts of devices per trigram, each kept for TTL seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._counts: dict[tuple[Hashable, str], tuple[int, float]] = {}

    def forget(self) -> None:
        """Drop every count (the next search counts afresh)."""
        self._counts.clear()

    def counts(self, scope: Hashable, grams: list[str],
               count: Callable[[list[str]], list[int]]) -> dict[str, int]:
        """Each gram's count (capped): those not known (or no longer trusted) counted.

        `count` counts the grams it is given in one go; `scope` keeps the counts of one
        database apart from another's.
        """
        now = self.clock()
        known = {}
        for gram in grams:
            entry = self._counts.get((scope, gram))
            if entry is not None and now - entry[1] < TTL:
                known[gram] = entry[0]
        missing = [g for g in grams if g not in known]
        if missing:
            if len(self._counts) + len(missing) > LIMIT:
                self._counts.clear()
            numbers = count(missing)
            for index, gram in enumerate(missing):
                known[gram] = numbers[index]
                self._counts[(scope, gram)] = (numbers[index], now)
        return known


def pieces(needle: str, counts: dict[str, int], cap: int) -> list[str]:
    """Up to PICK pieces of the needle whose every trigram is rare (under cap), the rarest first.

    A piece is a longest run of the needle's rare trigrams: the index finds its rows through
    their lists alone, and a longer piece leaves fewer candidates to check. A trigram without a
    count (nothing in the index to look up) is never rare.
    """
    runs: list[tuple[int, int, str]] = []
    start: int | None = None
    rarest = cap
    # One step past the last trigram, where the slice is two characters (never counted): a
    # run that reaches the needle's end ends there.
    for i in range(len(needle) - 1):
        number = counts.get(needle[i:i + 3], cap)
        if number < cap:
            start = i if start is None else start
            rarest = min(rarest, number)
        elif start is not None:
            piece = needle[start:i + 2]
            runs.append((rarest, -len(piece), piece))
            start, rarest = None, cap
    return [piece for _, _, piece in sorted(runs)[:PICK]]


COUNTS = GramCounts()


def cap(sqlite: bool) -> int:
    """How many devices make a trigram common on this kind of database."""
    return CAP_SQLITE if sqlite else CAP_POSTGRES


def sqlite_bound() -> bool:
    """Whether the bound database is SQLite."""
    return isinstance(db.obj, pw.SqliteDatabase)


def _phrase(text: str) -> str:
    """Text as an FTS5 string (its double quotes doubled): its trigrams, one after another."""
    return '"' + text.replace('"', '""') + '"'


def count_sql(grams: list[str], sqlite: bool) -> tuple[str, list[str]]:
    """One statement counting the devices of each trigram (capped), and its params."""
    if sqlite:
        each, params = _COUNT_SQLITE, [_phrase(g) for g in grams]
    else:
        each, params = _COUNT_POSTGRES, [substring_pattern(g) for g in grams]
    return "SELECT " + ", ".join([each.format(cap=cap(sqlite))] * len(grams)), params


def plan_sql(needle: str, rare: list[str], sqlite: bool) -> tuple[str, list[str]]:
    """SQL selecting (id, number) of every match through the rare pieces, and its params.

    No piece: the whole needle through the index.
    """
    looked_up = rare or [needle]
    if sqlite:
        lookup, keys = _LOOKUP_SQLITE, [" AND ".join(_phrase(p) for p in looked_up)]
        contains, category = "instr(search_text, ?)", _CATEGORY_SQLITE
    else:
        lookup = " AND ".join([_PIECE_POSTGRES] * len(looked_up))
        keys = [substring_pattern(p) for p in looked_up]
        contains, category = "strpos(search_text, %s)", _CATEGORY_POSTGRES
    return (f"SELECT id, number FROM device WHERE {lookup} AND {contains} > 0 "
            f"UNION ALL {category}", [*keys, needle, needle, needle])


def matches_sql(needle: str) -> tuple[str, list[str]]:
    """SQL selecting (id, number) of every device matching an indexable needle, and its params."""
    sqlite = sqlite_bound()

    def count(grams: list[str]) -> list[int]:
        sql, params = count_sql(grams, sqlite)
        return list(db.execute_sql(sql, params).fetchone())

    # Trigrams past the first COUNTED are never counted, so never rare: pieces end before them.
    counts = COUNTS.counts(db.obj, windows(needle, sqlite)[:COUNTED], count)
    rare = pieces(needle, counts, cap(sqlite))
    return plan_sql(needle, rare, sqlite)
