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

CAP = 1000  # a trigram in this many devices is common: counting further only costs
TTL = 60.0  # seconds a count is trusted (a bulk import changes them wholesale)
PICK = 2  # pieces the index looks up per search: two leave few candidates
LIMIT = 4096  # counts kept before the cache starts afresh
COUNTED = 32  # trigrams counted per needle: a long message must not make a huge statement

# Every match, (id, number): the devices through the trigram index (SQLite: the FTS5 table
# device_fts; PostgreSQL: pg_trgm's GIN, which serves LIKE), and the devices of a category whose
# name matches. SQLite's statistics see seven categories and would scan: its index is named.
_CATEGORY_SQLITE = (
    "SELECT id, number FROM device INDEXED BY device_category_id WHERE category_id IN "
    "(SELECT id FROM category WHERE instr(devtrack_fold(name), ?) > 0)")
_CATEGORY_POSTGRES = (
    "SELECT id, number FROM device WHERE category_id IN "
    "(SELECT id FROM category WHERE strpos(devtrack_fold(name), %s) > 0)")
# The whole needle through the index: when every trigram of it is common.
_WHOLE_SQLITE = "SELECT id, number FROM device WHERE id IN " \
    "(SELECT rowid FROM device_fts WHERE search_text LIKE ?)"
_WHOLE_POSTGRES = "SELECT id, number FROM device WHERE search_text LIKE %s ESCAPE '\\'"
# The rarest pieces through the index, every candidate checked for the whole needle.
_RARE_SQLITE = "SELECT id, number FROM device WHERE id IN " \
    "(SELECT rowid FROM device_fts WHERE device_fts MATCH ?) AND instr(search_text, ?) > 0"
_PIECE_POSTGRES = "search_text LIKE %s ESCAPE '\\'"
# One capped count per trigram, each through the same index as the search.
_COUNT_SQLITE = "(SELECT count(*) FROM (SELECT 1 FROM device_fts WHERE device_fts MATCH ? " \
    f"LIMIT {CAP}))"
_COUNT_POSTGRES = f"(SELECT count(*) FROM (SELECT 1 FROM device WHERE {_PIECE_POSTGRES} " \
    f"LIMIT {CAP}) AS c)"


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
        """Each gram's count, capped at CAP: those not known (or no longer trusted) counted.

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


def pieces(needle: str, counts: dict[str, int]) -> list[str]:
    """Up to PICK pieces of the needle whose every trigram is rare, the rarest first.

    A piece is a longest run of the needle's rare trigrams: the index finds its rows through
    their lists alone, and a longer piece leaves fewer candidates to check. A trigram without a
    count (nothing in the index to look up) is never rare.
    """
    runs: list[tuple[int, int, str]] = []
    start: int | None = None
    rarest = CAP
    # One step past the last trigram, where the slice is two characters (never counted): a
    # run that reaches the needle's end ends there.
    for i in range(len(needle) - 1):
        number = counts.get(needle[i:i + 3], CAP)
        if number < CAP:
            start = i if start is None else start
            rarest = min(rarest, number)
        elif start is not None:
            piece = needle[start:i + 2]
            runs.append((rarest, -len(piece), piece))
            start, rarest = None, CAP
    return [piece for _, _, piece in sorted(runs)[:PICK]]


COUNTS = GramCounts()


def sqlite_bound() -> bool:
    """Whether the bound database is SQLite."""
    return isinstance(db.obj, pw.SqliteDatabase)


def _phrase(text: str) -> str:
    """Text as an FTS5 string (its double quotes doubled): its trigrams, one after another."""
    return '"' + text.replace('"', '""') + '"'


def count_sql(grams: list[str], sqlite: bool) -> tuple[str, list[str]]:
    """One statement counting the devices of each trigram (capped at CAP), and its params."""
    if sqlite:
        return "SELECT " + ", ".join([_COUNT_SQLITE] * len(grams)), [_phrase(g) for g in grams]
    return ("SELECT " + ", ".join([_COUNT_POSTGRES] * len(grams)),
            [substring_pattern(g) for g in grams])


def plan_sql(needle: str, rare: list[str], sqlite: bool) -> tuple[str, list[str]]:
    """SQL selecting (id, number) of every match through the rare pieces, and its params.

    No piece: the whole needle through the index.
    """
    category = _CATEGORY_SQLITE if sqlite else _CATEGORY_POSTGRES
    if not rare:
        # An indexed SQLite needle holds no wildcard: escaping leaves its pattern as it is.
        whole = _WHOLE_SQLITE if sqlite else _WHOLE_POSTGRES
        return f"{whole} UNION {category}", [substring_pattern(needle), needle]
    if sqlite:
        return (f"{_RARE_SQLITE} UNION {category}",
                [" AND ".join(_phrase(p) for p in rare), needle, needle])
    pieces_sql = " AND ".join([_PIECE_POSTGRES] * len(rare))
    return (f"SELECT id, number FROM device WHERE {pieces_sql} AND strpos(search_text, %s) > 0 "
            f"UNION {category}", [*(substring_pattern(p) for p in rare), needle, needle])


def matches_sql(needle: str) -> tuple[str, list[str]]:
    """SQL selecting (id, number) of every device matching an indexable needle, and its params."""
    sqlite = sqlite_bound()

    def count(grams: list[str]) -> list[int]:
        sql, params = count_sql(grams, sqlite)
        return list(db.execute_sql(sql, params).fetchone())

    # Trigrams past the first COUNTED are never counted, so never rare: pieces end before them.
    rare = pieces(needle, COUNTS.counts(db.obj, windows(needle, sqlite)[:COUNTED], count))
    return plan_sql(needle, rare, sqlite)
