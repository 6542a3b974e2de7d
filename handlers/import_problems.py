"""Messages of the file import: inventory.importing names problems, this module words them."""

from __future__ import annotations

import logging
from typing import Any

from handlers import texts
from inventory import importing
from inventory.importing import ImportFileError, ImportProblem

logger = logging.getLogger(__name__)

FILE_TEMPLATES = {
    importing.FILE_BINARY: texts.IMPORT_FILE_BINARY,
    importing.FILE_EMPTY: texts.IMPORT_FILE_EMPTY,
    importing.FILE_HEADER_ONLY: texts.IMPORT_FILE_HEADER_ONLY,
    importing.FILE_BAD_BOM: texts.IMPORT_FILE_BAD_BOM,
    importing.FILE_QUOTE_NEAR: texts.IMPORT_FILE_QUOTE_NEAR,
    importing.FILE_QUOTE_IN: texts.IMPORT_FILE_QUOTE_IN,
    importing.FILE_TOO_MANY_ROWS: texts.IMPORT_FILE_TOO_MANY_ROWS,
    importing.FILE_TOO_BIG: texts.IMPORT_TOO_BIG,
    importing.FILE_XLSX_UNREADABLE: texts.IMPORT_FILE_XLSX_UNREADABLE,
    importing.FILE_XLSX_DAMAGED: texts.IMPORT_FILE_XLSX_DAMAGED,
    importing.FILE_LOOKS_XLSX: texts.IMPORT_FILE_LOOKS_XLSX,
    importing.FILE_EXTENSION: texts.IMPORT_FILE_EXTENSION,
}
PROBLEM_TEMPLATES = {
    importing.NO_HEADER: texts.IMPORT_NO_HEADER,
    importing.REPEATED_COLUMN: texts.IMPORT_REPEATED_COLUMN,
    importing.MISSING_COLUMNS: texts.IMPORT_MISSING_COLUMNS,
    importing.REQUIRED_EMPTY: texts.IMPORT_REQUIRED_EMPTY,
    importing.BAD_NUMBER: texts.IMPORT_BAD_NUMBER,
    importing.DUPLICATE_NUMBER: texts.IMPORT_DUPLICATE_NUMBER,
    importing.TOO_LONG: texts.IMPORT_TOO_LONG,
    importing.UNKNOWN_CATEGORY: texts.IMPORT_UNKNOWN_CATEGORY,
    importing.DUPLICATE_SERIAL: texts.IMPORT_DUPLICATE_SERIAL,
    importing.SERIAL_TAKEN: texts.IMPORT_SERIAL_TAKEN,
    importing.BAD_DATE: texts.IMPORT_BAD_DATE,
    importing.BAD_EMAIL: texts.IMPORT_BAD_EMAIL,
    importing.EMAIL_DOMAIN: texts.IMPORT_EMAIL_DOMAIN,
    importing.DUE_WITHOUT_EMAIL: texts.IMPORT_DUE_WITHOUT_EMAIL,
    importing.NO_ROWS: texts.IMPORT_NO_ROWS,
    importing.UNKNOWN_COLUMN: texts.IMPORT_UNKNOWN_COLUMN,
    importing.PLACE_WITHOUT_HOLDER: texts.IMPORT_PLACE_WITHOUT_HOLDER,
}


def megabytes(size: int) -> str:
    """Size in megabytes with one decimal, Russian style."""
    return f"{size / 1024 / 1024:.1f}".replace(".", ",")


def _thousands(n: int) -> str:
    """20 000: thousands apart by a space."""
    return f"{n:,}".replace(",", " ")


def file_error_text(error: ImportFileError) -> str:
    """The sentence for a file that cannot be read (plain text; escape before sending)."""
    params: dict[str, Any] = dict(error.params, formats=texts.IMPORT_FORMATS)
    template = FILE_TEMPLATES[error.code]
    if error.code == importing.FILE_TOO_BIG:
        params.update(size=megabytes(params["size"]), limit=megabytes(params["limit"]))
    elif error.code == importing.FILE_TOO_MANY_ROWS:
        params["limit"] = _thousands(params["limit"])
    elif error.code == importing.FILE_EXTENSION and not params["extension"]:
        template = texts.IMPORT_FILE_NO_EXTENSION
    return template.format(**params)


def _field(name: str) -> str:
    """A column's title in messages."""
    return texts.IMPORT_FIELD_TITLES.get(name, name)


def reason_text(problem: ImportProblem) -> str:
    """What is wrong, without the row (plain text)."""
    params = dict(problem.params)
    template = PROBLEM_TEMPLATES[problem.code]
    if "field" in params:
        params["field"] = _field(params["field"])
    if problem.code == importing.MISSING_COLUMNS:
        fields = params["fields"]
        params["names"] = ", ".join(f"«{_field(name)}»" for name in fields)
        if len(fields) == 1:
            template = texts.IMPORT_MISSING_COLUMN
    elif problem.code == importing.EMAIL_DOMAIN:
        params["domains"] = ", ".join("@" + domain for domain in params["domains"])
    elif problem.code == importing.PLACE_WITHOUT_HOLDER:
        params["rows"] = texts.in_rows(params["count"])
    return template.format(**params)


def problem_text(problem: ImportProblem) -> str:
    """An error as «Строка 5: …», a warning as its sentence (plain text; escape before sending)."""
    reason = reason_text(problem)
    if problem.row is None:
        return reason
    return texts.IMPORT_ROW.format(row=problem.row, reason=reason)
