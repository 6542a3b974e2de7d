"""Export files: XLSX workbooks (one sheet per table, real numbers and dates) and CSV, both with
formula-proof text."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from inventory.importing import neutralize_cell

CSV_DELIMITER = ";"  # what Excel expects in a Russian locale


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


def csv_text(value: object) -> str:
    """A cell as CSV text: dates dd.mm.yyyy, moments dd.mm.yyyy HH:MM, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    if isinstance(value, int):
        return str(value)
    return neutralize_cell(str(value))


def to_csv(table: Table) -> bytes:
    """One table as CSV in UTF-8 with a BOM, «;» between cells and CRLF line ends (the csv
    module's default): Excel opens it with Cyrillic intact."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER)
    writer.writerow(table.header)
    writer.writerows([csv_text(value) for value in row] for row in table.rows)
    return buffer.getvalue().encode("utf-8-sig")
