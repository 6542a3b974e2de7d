"""Device export: every device with its holder, place and due date, as CSV or XLSX.

The file uses the import's canonical header, so the import accepts it unchanged; cells that a
spreadsheet would run as formulas are neutralised (`importing.neutralize_cell`, in the writers of
spreadsheet.py), and the import undoes exactly that. CSV and XLSX hold the same cells.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from inventory import spreadsheet
from inventory.devices import open_loan_of, with_holder
from inventory.importing import CANONICAL_HEADER
from inventory.spreadsheet import Table
from models import Device

logger = logging.getLogger(__name__)

SHEET_TITLE = "Устройства"  # part of the file format, like the header it writes
COLUMN_WIDTHS = (8, 32, 22, 22, 16, 14, 40, 30, 24, 14)


@dataclass(frozen=True)
class ExportRow:
    """One device as the export writes it (field order of the canonical header)."""

    number: int
    name: str
    category: str
    serial: str
    registered_on: date | None
    firmware: str
    comment: str
    email: str
    place: str
    due_date: date | None


def export_rows() -> list[ExportRow]:
    """Every device with its category and open loan (holder email, place, due date), by number."""
    rows = []
    for device in with_holder().order_by(Device.number):
        loan = open_loan_of(device)
        rows.append(ExportRow(
            number=device.number,
            name=device.name,
            category=device.category.name,
            serial=device.serial,
            registered_on=device.registered_on,
            firmware=device.firmware,
            comment=device.comment,
            email=loan.person.email if loan else "",
            place=loan.place if loan else "",
            due_date=loan.due_date if loan else None,
        ))
    return rows


def _table(rows: list[ExportRow]) -> Table:
    """The rows as one sheet under the canonical header."""
    values: list[list[object]] = [
        [row.number, row.name, row.category, row.serial, row.registered_on, row.firmware,
         row.comment, row.email, row.place, row.due_date] for row in rows]
    return Table(SHEET_TITLE, CANONICAL_HEADER, COLUMN_WIDTHS, values)


def export_file(kind: str) -> tuple[bytes, int]:
    """The export in the given format ("csv" or "xlsx") and how many devices it holds."""
    rows = export_rows()
    if kind == "csv":
        data = spreadsheet.to_csv(_table(rows))
    elif kind == "xlsx":
        data = spreadsheet.to_xlsx([_table(rows)])
    else:
        raise ValueError(f"unknown export format {kind!r}")
    logger.info("exported %d devices as %s (%d bytes)", len(rows), kind, len(data))
    return data, len(rows)
