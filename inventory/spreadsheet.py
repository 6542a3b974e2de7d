"""XLSX workbooks for exports: one sheet per table, real numbers and dates, formula-proof text."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from inventory.importing import neutralize_cell


@dataclass(frozen=True)
class Table:
    """One sheet: its title, header, column widths and rows of cells (str, int, date, None)."""

    title: str
    header: Sequence[str]
    widths: Sequence[int]
    rows: list[list[object]]


def to_xlsx(tables: Sequence[Table]) -> bytes:
    """An XLSX workbook, one sheet per table; numbers and dates are real cells, text is text."""
    import openpyxl  # local: only exports pay for it
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    workbook = openpyxl.Workbook(write_only=True)
    for table in tables:
        sheet = workbook.create_sheet(table.title)
        for index, width in enumerate(table.widths, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = width
        sheet.append(list(table.header))
        for row in table.rows:
            cells = []
            for value in row:
                if isinstance(value, str):
                    value = neutralize_cell(value)
                cell = WriteOnlyCell(sheet, value=value)
                if isinstance(value, datetime):
                    cell.number_format = "DD.MM.YYYY HH:MM"
                elif isinstance(value, date):
                    cell.number_format = "DD.MM.YYYY"
                elif isinstance(value, str):
                    cell.data_type = "s"  # never a formula, whatever the text says
                cells.append(cell)
            sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
