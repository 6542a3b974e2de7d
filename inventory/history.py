"""Loan history of a device or a person: newest first, paginated, who assigned each loan."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import peewee as pw

from models import Device, Loan, Person

logger = logging.getLogger(__name__)

PAGE_SIZE = 8


@dataclass
class HistoryPage:
    """One page of loans, newest first."""

    loans: list[Loan]
    page: int
    pages: int
    total: int


def history_query(*, device_id: int | None = None,
                  person_id: int | None = None) -> pw.ModelSelect[Loan]:
    """Loans with holder, device and who assigned them, newest first (one query)."""
    Assigner = Person.alias()
    query = (
        Loan.select(Loan, Person, Device, Assigner)
        .join(Person)  # Loan.person: the foreign key named like the model
        .switch()
        .join(Device)
        .switch()
        .join(Assigner, pw.JOIN.LEFT_OUTER, on=(Loan.assigned_by == Assigner.id))
        .order_by(Loan.taken_at.desc(), Loan.id.desc())
    )
    if device_id is not None:
        query = query.where(Loan.device == device_id)
    if person_id is not None:
        query = query.where(Loan.person == person_id)
    return query


def history(page: int, *, device_id: int | None = None,
            person_id: int | None = None) -> HistoryPage:
    """A page of the loan history of a device or of a person (two queries)."""
    if (device_id is None) == (person_id is None):
        raise ValueError("give exactly one of device_id and person_id")
    condition = (Loan.device == device_id) if device_id is not None else (
        Loan.person == person_id)
    total = Loan.select().where(condition).count()
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = list(history_query(device_id=device_id, person_id=person_id)
                .paginate(page, PAGE_SIZE))
    return HistoryPage(rows, page, pages, total)


def assigner(loan: Loan) -> Person | None:
    """Who assigned the loan (None when the holder took it themselves)."""
    return loan.assigned_by if loan.assigned_by_id else None
