"""Devices: search, paginated lists, the card, categories."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import peewee as pw

from inventory.errors import NotFound
from inventory.numbers import sticker_number
from inventory.prepared import Prepared
from inventory.rows import tuples
from inventory.search_plan import matches_sql, sqlite_bound
from inventory.sql import like_pattern, substring_pattern
from models import (
    HANDOVER_PENDING,
    Category,
    Device,
    DeviceCount,
    Handover,
    Loan,
    Person,
    QueueEntry,
    db,
    fold_text,
)

logger = logging.getLogger(__name__)

PAGE_SIZE = 8
MAX_PAGE = 10**9  # keeps OFFSET within 64 bits for any page number a button can carry

def normalize(text: str) -> str:
    """Lower case, «ё» as «е», single spaces: the form search compares."""
    return fold_text(text)


def search_text_for(name: str, serial: str) -> str:
    """The stored search column of a device."""
    return f"{normalize(name)}\n{normalize(serial)}"


@dataclass
class DeviceRow:
    """A device with its open loan (holder joined) and the current queue hold, if any."""

    device: Device
    loan: Loan | None
    hold: QueueEntry | None = None
    offer: Handover | None = None  # the holder's handover waiting for the colleague's answer
    # The device's line in order, people joined, when its reader has it already (None: the
    # card reads it).
    queue: list[QueueEntry] | None = None

    @property
    def holder(self) -> Person | None:
        """Who holds the device now."""
        return self.loan.person if self.loan else None

    def overdue_days(self, today: date) -> int:
        """Days past the due date (0 when not overdue)."""
        if self.loan is None or self.loan.due_date is None:
            return 0
        return max(0, (today - self.loan.due_date).days)


@dataclass
class Page:
    """One page of a device list."""

    rows: Sequence[DeviceRow]
    page: int
    pages: int
    total: int


def with_holder() -> pw.ModelSelect[Device]:
    """Devices with their category, open loan and holder (left joins).

    Read the open loan with `open_loan_of` (None for a free device).
    """
    return (
        Device.select(Device, Category, Loan, Person)
        .join(Category)
        .switch()
        .join(Loan, pw.JOIN.LEFT_OUTER,
              on=(Loan.device == Device.id) & Loan.returned_at.is_null())
        .join(Person, pw.JOIN.LEFT_OUTER)  # Loan.person: the foreign key named like the model
    )


def open_loan_of(device: Device) -> Loan | None:
    """The open loan a `with_holder` row carries; None for a free device or a plain row."""
    # The outer join leaves None when it found no loan; a row read without it has no attribute.
    return getattr(device, "loan", None)


# A card or a list never shows when a row was written, nor the search column: leaving them out
# of the rows spares peewee a fifth of the columns it turns into attributes on every screen.
_NOT_SHOWN = frozenset({"created_at", "updated_at", "search_text"})


def _shown(model: type[pw.Model] | pw.ModelAlias[Any]) -> list[pw.Field]:
    """The columns of a model (or an alias of one) that a card or a list row carries."""
    # An alias reads its model's _meta and hands out its own copies of the fields.
    return [getattr(model, f.name) for f in model._meta.sorted_fields
            if f.name not in _NOT_SHOWN]


def _rows_query(now: datetime) -> pw.ModelSelect[Device]:
    """Devices with category, open loan + holder, active hold and the holder's pending
    handover: one query, any list size."""
    HoldPerson = Person.alias()
    Colleague = Person.alias()
    shown = [field for model in (Device, Category, Loan, Person, QueueEntry, HoldPerson,
                                 Handover, Colleague) for field in _shown(model)]
    return (
        with_holder()
        .select(*shown)
        .switch()
        .join(QueueEntry, pw.JOIN.LEFT_OUTER,
              on=(QueueEntry.device == Device.id) & (QueueEntry.hold_until > now))
        .join(HoldPerson, pw.JOIN.LEFT_OUTER, attr="hold_person")
        .switch()
        # At most one pending handover per device (a partial unique index); one offered by an
        # earlier holder is left over, and answering it finds it void.
        .join(Handover, pw.JOIN.LEFT_OUTER,
              on=(Handover.device == Device.id) & (Handover.status == HANDOVER_PENDING)
              & (Handover.from_person == Loan.person), attr="offer")
        .join(Colleague, pw.JOIN.LEFT_OUTER, on=(Handover.to_person == Colleague.id),
              attr="colleague")
    )


# The card and a page's rows are on every screen: compiled once (inventory/prepared.py).
_CARD = Prepared(lambda now, device_id: _rows_query(now).where(Device.id == device_id))
_ROWS_BY_IDS = Prepared(lambda now, *ids: _rows_query(now).where(Device.id.in_(list(ids)))
                        .order_by(Device.number))


def _to_row(device: Device) -> DeviceRow:
    """Unpack the joined models of one result row."""
    loan = open_loan_of(device)
    hold = device.queueentry  # type: ignore[attr-defined]  # the outer join: None, no hold
    if hold is not None:
        hold.person = hold.hold_person
    offer = device.offer  # type: ignore[attr-defined]  # None: no pending handover
    if offer is not None:
        assert loan is not None  # the join asks for the holder's offer
        offer.from_person, offer.to_person = loan.person, offer.colleague
    return DeviceRow(device, loan, hold, offer)


def _page(condition: pw.ColumnBase, page: int, now: datetime) -> Page:
    """One page of the devices matching condition, ordered by number; page clamped.

    The condition needs a full scan (a substring search), so the total comes with the page's
    ids from that one scan (COUNT() OVER ()); a count runs only when the page is past the end.
    """
    ordered = Device.select(Device.id).where(condition).order_by(Device.number)
    asked = min(max(1, page), MAX_PAGE)
    found: list[tuple[int, int]] = list(tuples(
        ordered.select_extend(pw.fn.COUNT(Device.id).over()).paginate(asked, PAGE_SIZE)))
    total = found[0][1] if found else Device.select().where(condition).count()
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(asked, pages)
    if not total:
        return Page([], page, pages, 0)
    # The page's ids first, then loans, holders and holds for those ids only: a deep page
    # (OFFSET thousands) never joins the rows it skips. Rows found means the page asked for
    # exists; none means it was past the end and the last page is read instead.
    ids = [device_id for device_id, _ in found] if found else ordered.paginate(page, PAGE_SIZE)
    if isinstance(ids, list):
        return Page([_to_row(d) for d in _ROWS_BY_IDS.rows(now, *ids)], page, pages, total)
    return Page([_to_row(d) for d in _rows_of(ids, now)], page, pages, total)


def _listing(now: datetime, offset: int, category_id: int | None = None) -> pw.ModelSelect[Device]:
    """One page of every device (or of a category) with its state, from offset."""
    ordered = Device.select(Device.id).order_by(Device.number).limit(PAGE_SIZE).offset(offset)
    if category_id is not None:
        ordered = ordered.where(Device.category == category_id)
    return _rows_of(ordered, now)


def _rows_of(page: pw.SelectQuery, now: datetime) -> pw.ModelSelect[Device]:
    """The rows of the devices whose ids the `page` subquery selects, by number."""
    if sqlite_bound():
        return _rows_query(now).where(Device.id.in_(page)).order_by(Device.number)
    # PostgreSQL keeps more than eight joined tables in the order written (join_collapse_limit),
    # so `id IN (page)` was tested after joining every device to its loans and holds (70 ms at
    # 100,000 devices); ANY(ARRAY(page)) is computed first and read through the primary key.
    return (_rows_query(now).where(Device.id == pw.fn.ANY(pw.fn.ARRAY(page)))
            .order_by(Device.number))


# /all and category pages are everyday screens: compiled once (inventory/prepared.py). Their
# totals come from the per-category counters the triggers of migration 008 keep (a row per
# category with devices), so their cost does not grow with the inventory as a COUNT would.
_COUNT_ALL = Prepared(lambda: DeviceCount.select(pw.fn.COALESCE(pw.fn.SUM(DeviceCount.n), 0)
                                                 .alias("n")))
_COUNT_CATEGORY = Prepared(lambda category_id: DeviceCount.select(DeviceCount.n)
                           .where(DeviceCount.category == category_id))
_LISTING = Prepared(_listing, on_server=False)  # its OFFSET decides the plan


def page_all(page: int, now: datetime, category_id: int | None = None) -> Page:
    """A page of every device, or of one category."""
    counted = _COUNT_ALL.rows() if category_id is None else _COUNT_CATEGORY.rows(category_id)
    total = counted[0].n if counted else 0  # a category without devices has no counter row
    asked = min(max(1, page), MAX_PAGE)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(asked, pages)
    if not total:
        return Page([], page, pages, 0)
    offset = (page - 1) * PAGE_SIZE
    found = (_LISTING.rows(now, offset) if category_id is None
             else _LISTING.rows(now, offset, category_id))
    return Page([_to_row(d) for d in found], page, pages, total)


def _contains(field: pw.ColumnBase, needle: str) -> pw.ColumnBase:
    """Substring match on an already lower-cased column, without per-row case folding."""
    # Spelled out: peewee writes its LIKE operator as GLOB on SQLite.
    return pw.NodeList((field, pw.SQL("LIKE"), like_pattern(substring_pattern(needle))))


def _indexed(needle: str) -> bool:
    """Whether a trigram index can serve this needle (3+ characters; on SQLite no wildcard)."""
    if len(needle) < 3:
        return False
    return not sqlite_bound() or not any(c in needle for c in "%_\\")


def _needle(query: str) -> str | None:
    """The folded text a search looks for (None: nothing can match)."""
    needle = normalize(query)
    if not needle or "\x00" in needle:
        # No stored text holds U+0000 (PostgreSQL refuses it), so nothing can match.
        return None
    if sticker_number(needle) is not None:
        needle = needle.lstrip("№#").strip()  # «№49» looks for 49 in names and serials too
    return needle  # a sticker number keeps its digits: never empty


def _search_condition(query: str, exclude_id: int | None = None) -> pw.ColumnBase | None:
    """Name, serial or category substring, ignoring case and «ё» (no number match here)."""
    needle = _needle(query)
    if needle is None:
        return None
    if _indexed(needle):
        # One id list from the index and from the categories: an OR across the two would
        # make both databases scan every device.
        matches, params = matches_sql(needle)
        condition = Device.id.in_(pw.SQL(f"(SELECT id FROM ({matches}) AS m)", params))
    else:
        # Shorter needles (no trigram to look up), or on SQLite with a wildcard (FTS5's LIKE
        # has no ESCAPE): a scan. Categories are few: their folded names are matched here
        # (devtrack_fold is normalize() in SQL) rather than copied into every device row.
        categories = Category.select(Category.id).where(
            _contains(pw.fn.devtrack_fold(Category.name), needle))
        condition = _contains(Device.search_text, needle) | Device.category.in_(categories)
    if exclude_id is not None:
        condition = condition & (Device.id != exclude_id)
    return condition


def search(query: str, page: int, now: datetime, exclude_id: int | None = None) -> Page:
    """A page of devices whose name, serial or category contains the query.

    `exclude_id`: leave out the device the query named by its sticker number.
    """
    needle = _needle(query)
    if needle is not None and _indexed(needle):
        return _indexed_search(needle, page, now, exclude_id)
    condition = _search_condition(query, exclude_id)
    if condition is None:
        return Page([], 1, 1, 0)
    return _page(condition, page, now)


def _indexed_search(needle: str, page: int, now: datetime, exclude_id: int | None) -> Page:
    """A page of matches with their total from the index, in one statement (rows: a second).

    The matches are selected first and only then ordered and counted: an `id IN (...)` test
    on the device table made both databases walk every device.
    """
    p = db.obj.param
    matches, params = matches_sql(needle)
    asked = min(max(1, page), MAX_PAGE)
    sql = (f"SELECT m.id, COUNT(*) OVER () FROM ({matches}) AS m WHERE m.id <> {p} "
           f"ORDER BY m.number LIMIT {p} OFFSET {p}")
    skip = exclude_id or 0  # ids start at 1: 0 leaves nothing out

    def fetch(number: int) -> list[tuple[int, int]]:
        offset = (number - 1) * PAGE_SIZE
        # Not prepared on the server: the pattern and the OFFSET decide the plan.
        return list(db.execute_sql(sql, [*params, skip, PAGE_SIZE, offset]).fetchall())

    found = fetch(asked)
    if not found and asked > 1:
        total = db.execute_sql(f"SELECT COUNT(*) FROM ({matches}) AS m WHERE m.id <> {p}",
                               [*params, skip]).fetchone()[0]
        pages = max(1, math.ceil(total / PAGE_SIZE))
        found = fetch(pages) if total else []
        asked = pages
    if not found:
        return Page([], 1, 1, 0)
    total = found[0][1]
    pages = max(1, math.ceil(total / PAGE_SIZE))
    rows = _ROWS_BY_IDS.rows(now, *[device_id for device_id, _ in found])
    return Page([_to_row(d) for d in rows], min(asked, pages), pages, total)


def exact(query: str, now: datetime) -> DeviceRow | None:
    """The device whose sticker number is the query («49», «№49»), if there is one."""
    number = sticker_number(normalize(query))
    if number is None:
        return None
    found = list(_rows_query(now).where(Device.number == number))
    return _to_row(found[0]) if found else None


def more_matches(query: str, exclude_id: int) -> int:
    """How many other devices contain the query (for «Ещё совпадения» under an exact hit)."""
    condition = _search_condition(query, exclude_id)
    return 0 if condition is None else Device.select().where(condition).count()


def card(device_id: int, now: datetime) -> DeviceRow:
    """One device with its state; NotFound when deleted."""
    found = _CARD.rows(now, device_id)
    if not found:
        raise NotFound(device_id=device_id)
    return _to_row(found[0])


def by_number(number: int) -> Device:
    """The device with this sticker number."""
    device = Device.get_or_none(Device.number == number)
    if device is None:
        raise NotFound(number=number)
    return device


@dataclass
class CategoryCount:
    """A category with its device counts."""

    category: Category
    free: int
    total: int


def category_counts() -> list[CategoryCount]:
    """Every category with free/total counts, in one query."""
    held = pw.fn.COUNT(Loan.id)
    total = pw.fn.COUNT(Device.id)
    query = (
        Category.select(Category, total.alias("total"), held.alias("held"))
        .join(Device, pw.JOIN.LEFT_OUTER)
        .join(Loan, pw.JOIN.LEFT_OUTER,
              on=(Loan.device == Device.id) & Loan.returned_at.is_null())
        .group_by(Category.id)
        .order_by(Category.name)
    )
    return [CategoryCount(c, c.total - c.held, c.total) for c in query]


def ensure_categories(names: tuple[str, ...] | list[str], now: datetime) -> int:
    """Create the configured categories when the table is empty; returns how many."""
    if Category.select().exists():
        return 0
    rows = [{"name": n, "created_at": now, "updated_at": now} for n in dict.fromkeys(names)]
    if rows:
        Category.insert_many(rows).execute()
    return len(rows)
