"""Admin file import: decode bytes → table rows → validated plan (no Telegram, no database)."""

from __future__ import annotations

import codecs
import csv
import io
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import cchardet

from inventory.dates import parse_recorded_date
from inventory.errors import InvalidDate

logger = logging.getLogger(__name__)

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000

TEXT_EXTENSIONS = (".csv", ".txt")
XLSX_EXTENSIONS = (".xlsx",)

# Problem codes. The domain names a problem and its values; handlers/import_problems.py renders
# each code with its template from handlers/texts.py (inventory/ never imports handlers/).
FILE_BINARY = "binary"
FILE_EMPTY = "empty"
FILE_HEADER_ONLY = "header_only"
FILE_BAD_BOM = "bad_bom"  # encoding
FILE_QUOTE_NEAR = "quote_near"  # row
FILE_QUOTE_IN = "quote_in"  # row
FILE_TOO_MANY_ROWS = "too_many_rows"  # limit
FILE_TOO_BIG = "too_big"  # size, limit (bytes)
FILE_XLSX_UNREADABLE = "xlsx_unreadable"
FILE_XLSX_DAMAGED = "xlsx_damaged"
FILE_LOOKS_XLSX = "looks_xlsx"
FILE_EXTENSION = "extension"  # extension ("" when the name has none)
FILE_PROBLEMS = (
    FILE_BINARY, FILE_EMPTY, FILE_HEADER_ONLY, FILE_BAD_BOM, FILE_QUOTE_NEAR, FILE_QUOTE_IN,
    FILE_TOO_MANY_ROWS, FILE_TOO_BIG, FILE_XLSX_UNREADABLE, FILE_XLSX_DAMAGED, FILE_LOOKS_XLSX,
    FILE_EXTENSION,
)
# Row problems (errors); `field` params are FIELDS names.
NO_HEADER = "no_header"
REPEATED_COLUMN = "repeated_column"  # first, second, field
MISSING_COLUMNS = "missing_columns"  # fields
REQUIRED_EMPTY = "required_empty"  # field
BAD_NUMBER = "bad_number"  # value
DUPLICATE_NUMBER = "duplicate_number"  # number, first
TOO_LONG = "too_long"  # field, limit
UNKNOWN_CATEGORY = "unknown_category"  # value
DUPLICATE_SERIAL = "duplicate_serial"  # serial, first
SERIAL_TAKEN = "serial_taken"  # serial, owner
BAD_DATE = "bad_date"  # field, value
BAD_EMAIL = "bad_email"  # value
EMAIL_DOMAIN = "email_domain"  # value, domains
DUE_WITHOUT_EMAIL = "due_without_email"
NO_ROWS = "no_rows"
# Warnings (no row).
UNKNOWN_COLUMN = "unknown_column"  # title
PLACE_WITHOUT_HOLDER = "place_without_holder"  # count
PLAN_PROBLEMS = (
    NO_HEADER, REPEATED_COLUMN, MISSING_COLUMNS, REQUIRED_EMPTY, BAD_NUMBER, DUPLICATE_NUMBER,
    TOO_LONG, UNKNOWN_CATEGORY, DUPLICATE_SERIAL, SERIAL_TAKEN, BAD_DATE, BAD_EMAIL, EMAIL_DOMAIN,
    DUE_WITHOUT_EMAIL, NO_ROWS, UNKNOWN_COLUMN, PLACE_WITHOUT_HOLDER,
)

# Lengths of the matching database columns (models.py).
MAX_NUMBER = 2_147_483_647
# The same limits as /add and /edit (inventory.catalog.LIMITS is built from these).
FIELD_LIMITS = {"name": 200, "serial": 200, "firmware": 200, "comment": 1000, "place": 200}

FIELDS = (
    "number", "name", "category", "serial", "registered_on",
    "firmware", "comment", "email", "place", "due_date",
)
REQUIRED_FIELDS = ("number", "name", "category", "serial")

# The header this bot writes (the predecessor's, unchanged): the export uses it, so an exported
# file is accepted by the import as is. The Russian words here and in _ALIASES and
# EXPORT_ONLY_HEADER are a file format (column names the import reads back), not messages.
CANONICAL_HEADER = (
    "Айди", "Название", "Категория", "Артикул", "Дата регистрации", "Прошивка", "Комментарий",
    "Электронная почта", "Место устройства", "Дата возврата",
)

# A spreadsheet runs a cell beginning with one of these as a formula (tab and CR too: some
# programs drop them and look at what follows). The export prefixes such a cell with «'».
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_ALIASES: dict[str, tuple[str, ...]] = {
    "number": (
        "айди", "ид", "номер", "№", "номер устройства", "номер наклейки", "инвентарный номер",
        "id", "number", "no", "#", "device number", "device id", "sticker", "sticker number",
    ),
    "name": (
        "название", "наименование", "модель", "устройство", "название устройства",
        "name", "device", "device name", "model", "title",
    ),
    "category": ("категория", "тип", "тип устройства", "category", "type", "kind"),
    "serial": (
        "артикул", "артикул/зн/сн", "серийный номер", "серийный №", "зн", "сн", "зн/сн",
        "заводской номер", "зав. номер", "зав. №", "серийник",
        "serial", "serial number", "serial no", "sn", "s/n", "article",
    ),
    "registered_on": (
        "дата регистрации", "зарегистрировано", "зарегистрирован", "регистрация",
        "registration date", "registered on", "registered", "registration", "date registered",
    ),
    "firmware": ("прошивка", "версия прошивки", "firmware", "firmware version", "fw"),
    "comment": (
        "комментарий", "комментарии", "примечание", "примечания",
        "comment", "comments", "note", "notes",
    ),
    "email": (
        "электронная почта", "почта", "эл. почта", "эл.почта", "email", "e mail", "mail",
        "почта держателя", "держатель", "у кого", "сотрудник",
        "holder", "holder email", "holder e mail", "owner", "owner email", "taken by",
    ),
    "place": (
        "место устройства", "место", "местоположение", "расположение", "где",
        "place", "location", "device place",
    ),
    "due_date": (
        "дата возврата", "срок возврата", "вернуть до", "возврат",
        "due date", "due", "return date", "return by", "due on",
    ),
}

_TRIM_CHARS = " *:.\t"

# Columns the admin export (/export) adds for people to read; the import skips them silently,
# so an exported devices sheet goes back in unchanged.
EXPORT_ONLY_HEADER = ("Имя держателя", "Взято", "Дней просрочки", "В очереди")


def _header_key(text: str) -> str:
    """Header cell reduced for matching: case, ё, spaces, dashes and underscores folded."""
    key = text.replace("\ufeff", "").lower().replace("ё", "е")
    key = re.sub(r"[_\-]+", " ", key)
    key = re.sub(r"\s*/\s*", "/", key)
    key = " ".join(key.split()).strip(_TRIM_CHARS)
    return key


HEADER_ALIASES: dict[str, str] = {
    _header_key(alias): name for name, aliases in _ALIASES.items() for alias in aliases
}
_EXPORT_ONLY_KEYS = frozenset(_header_key(title) for title in EXPORT_ONLY_HEADER)

# Russian letter frequencies (per mille) for scoring single-byte Cyrillic candidates.
_RU_FREQ = {
    "о": 109.7, "е": 84.5, "а": 80.1, "и": 73.5, "н": 67.0, "т": 62.6, "с": 54.7, "р": 47.3,
    "в": 45.4, "л": 44.0, "к": 34.9, "м": 32.1, "д": 29.8, "п": 28.1, "у": 26.2, "я": 20.1,
    "ы": 19.0, "ь": 17.4, "г": 17.0, "з": 16.5, "б": 15.9, "ч": 14.4, "й": 12.1, "х": 9.7,
    "ж": 9.4, "ш": 7.3, "ю": 6.4, "ц": 4.8, "щ": 3.6, "э": 3.2, "ф": 2.6, "ъ": 0.4, "ё": 0.4,
}
_LETTER_SCORE = {letter: math.log(freq / 1000) for letter, freq in _RU_FREQ.items()}
_COMMON_PUNCT = set("«»—–№…“”„‘’•°±")
_PUNCT_SCORE = -7.0
_ODD_CHAR_SCORE = -14.0
_CASE_FLIP_SCORE = -6.0
_HINT_WEIGHT = 1.0
_HINT_SAMPLE = 64 * 1024
# cp1251 is by far the most common: it wins near ties such as all-caps «ФР» (koi8-r «тп»).
_PRIOR = {"cp1251": 3.0, "koi8-r": 0.0, "cp866": 0.0}
# Valid UTF-8 outside the scripts a device list uses (Latin, Cyrillic, punctuation, emoji).
_UNLIKELY_UTF8 = re.compile("[^\x00-\u07ff\u2000-\u27bf\ufe00-\ufe0f\ufeff"
                            "\U0001f000-\U0001faff]")
_CONVINCING_PER_BYTE = -5.0
CANDIDATES = ("cp1251", "koi8-r", "cp866")
_CHARDET_NAMES = {
    "windows-1251": "cp1251", "cp1251": "cp1251",
    "koi8-r": "koi8-r",
    "ibm866": "cp866", "cp866": "cp866",
}
# Control characters other than tab, line breaks and form feed (C1 controls too).
_CONTROL = re.compile("[\x01-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_MAX_CONTROL_SHARE = 0.01

_NUMBER = re.compile(r"\d+", re.ASCII)  # «²» or «٣» is not a sticker number
_EMAIL = re.compile(r"^[a-z0-9._%+\-']+@[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?"
                    r"(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)+$")


class ImportFileError(Exception):
    """The file cannot be read as a device table: a FILE_* code and its values."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code, params)
        self.code = code
        self.params = params


@dataclass
class ExistingData:
    """What the database already holds, as far as validation of an import needs it."""

    devices_by_number: dict[int, str] = field(default_factory=dict)
    numbers_by_serial: dict[str, int] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    open_loans: dict[int, str] = field(default_factory=dict)


@dataclass
class DeviceRow:
    """One valid data row with normalized values; row is the spreadsheet row number."""

    row: int
    number: int
    name: str
    category: str
    serial: str
    registered_on: date | None = None
    firmware: str = ""
    comment: str = ""
    email: str = ""
    place: str = ""
    due_date: date | None = None


@dataclass
class ImportProblem:
    """A problem found in a file: a code, its spreadsheet row (the header is 1; None for a
    warning about the whole file) and the values its message needs."""

    code: str
    row: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportPlan:
    """The validated content of a file: what an import would create and change."""

    new: list[DeviceRow] = field(default_factory=list)
    updates: list[DeviceRow] = field(default_factory=list)
    loans: list[DeviceRow] = field(default_factory=list)
    errors: list[ImportProblem] = field(default_factory=list)
    warnings: list[ImportProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing stops the import (an empty file is an error too)."""
        return not self.errors


# --------------------------------------------------------------------------- decoding


def _chardet_hint(raw: bytes) -> tuple[str | None, float]:
    """cchardet's guess (on the first 64 KB) mapped to one of CANDIDATES, with its confidence."""
    guess = cchardet.detect(raw[:_HINT_SAMPLE])
    name = guess.get("encoding")  # None when it has no guess
    hint = _CHARDET_NAMES.get(name.lower()) if name else None
    return hint, float(guess.get("confidence") or 0.0)


def _byte_scores(encoding: str) -> dict[int, float]:
    """Score of every byte 0x80–0xFF decoded with a single-byte codec (undecodable omitted)."""
    scores: dict[int, float] = {}
    for byte in range(0x80, 0x100):
        try:
            char = bytes([byte]).decode(encoding)
        except UnicodeDecodeError:
            continue
        letter = _LETTER_SCORE.get(char.lower())
        if letter is not None:
            scores[byte] = letter
        else:
            scores[byte] = _PUNCT_SCORE if char in _COMMON_PUNCT else _ODD_CHAR_SCORE
    return scores


_BYTE_SCORES = {encoding: _byte_scores(encoding) for encoding in CANDIDATES}
# A lower-case Cyrillic letter right before an upper-case one: typical of a wrong codec.
_CASE_FLIP = re.compile(r"[а-яё][А-ЯЁ]")


def _best_single_byte(raw: bytes) -> tuple[str, str, float]:
    """The most Russian-looking decoding of raw: (text, encoding, score per non-ASCII byte)."""
    hint, confidence = _chardet_hint(raw)
    counts = {byte: count for byte in range(0x80, 0x100) if (count := raw.count(byte))}
    high = sum(counts.values())  # callers pass bytes with at least one of 0x80-0xFF
    best: tuple[str, str, float] | None = None
    best_score = -math.inf
    for encoding in CANDIDATES:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        scores = _BYTE_SCORES[encoding]
        score = sum(count * scores[byte] for byte, count in counts.items())
        score += _CASE_FLIP_SCORE * len(_CASE_FLIP.findall(text))
        score += _PRIOR[encoding]
        if encoding == hint:
            score += _HINT_WEIGHT * confidence  # cchardet's confidence is 0-1
        # Strict ">" keeps the earlier candidate on ties: cp1251 wins them.
        if score > best_score:
            best, best_score = (text, encoding, score / high), score
    assert best is not None  # koi8-r and cp866 decode any byte string
    logger.debug("single-byte guess %s (%.2f per byte; cchardet hint %s %.2f)", best[1],
                 best[2], hint, confidence)
    return best


def _decode_unmarked(raw: bytes) -> str:
    """Text of bytes without a BOM: strict UTF-8 unless it only decodes so by accident."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _best_single_byte(raw)[0]
    if _UNLIKELY_UTF8.search(text):
        # cp866 «так» is valid UTF-8 (a Braille sign): prefer a convincing Cyrillic reading.
        cyrillic, encoding, per_byte = _best_single_byte(raw)
        if per_byte >= _CONVINCING_PER_BYTE:
            logger.debug("valid UTF-8 with unlikely characters read as %s", encoding)
            return cyrillic
    return text


def _check_text(text: str) -> None:
    """Refuse text that is really binary data: NUL characters or many control characters."""
    if "\x00" in text:
        raise ImportFileError(FILE_BINARY)
    controls = len(_CONTROL.findall(text))
    if controls and controls > len(text) * _MAX_CONTROL_SHARE:
        raise ImportFileError(FILE_BINARY)


# Byte order marks and their codecs; UTF-32 LE before UTF-16 LE, whose mark begins it.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_bytes(raw: bytes) -> str:
    """Text of a CSV file: BOM, then strict UTF-8, then the best Cyrillic single-byte codec."""
    text: str | None = None
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                raise ImportFileError(FILE_BAD_BOM, encoding=encoding.upper()) from exc
            break
    if text is None:
        text = _decode_unmarked(raw)  # a NUL decodes to "\x00" in every codec: _check_text
    text = text.lstrip("\ufeff").rstrip("\x1a")  # stray BOM; DOS end-of-file mark
    _check_text(text)
    return text


# --------------------------------------------------------------------------- tables


def _too_many_rows() -> ImportFileError:
    """The row-limit error (reads MAX_ROWS at call time)."""
    return ImportFileError(FILE_TOO_MANY_ROWS, limit=MAX_ROWS)


def _is_empty(row: list[str]) -> bool:
    """True when every cell of the row is blank."""
    return not any(cell.strip() for cell in row)


def sniff_delimiter(text: str) -> str:
    """`,`, `;` or tab: whichever occurs most in the header line outside quotes (`,` on ties)."""
    counts = {",": 0, ";": 0, "\t": 0}
    in_quotes = False
    started = False
    for char in text:
        if char == '"':
            in_quotes = not in_quotes
        elif in_quotes:
            continue
        elif char in "\r\n":
            if started:
                break
        elif char in counts:
            counts[char] += 1
            started = True
        elif not char.isspace():
            started = True
    # Dict order puts "," first on ties, and so when nothing was counted.
    return max(counts, key=lambda sep: counts[sep])


def _read_csv(text: str) -> list[list[str]]:
    """Rows of a CSV text with a sniffed delimiter; refuses an unclosed quote."""
    delimiter = sniff_delimiter(text)
    sentinel = next(ch for ch in ("\ue000", "\ue001", "\ue002", "\ue003") if ch not in text)
    reader = csv.reader(io.StringIO(text + "\n" + sentinel + "\n", newline=""),
                        delimiter=delimiter)
    rows: list[list[str]] = []
    try:
        for record in reader:
            rows.append([cell.strip() for cell in record])
    except csv.Error as exc:
        raise ImportFileError(FILE_QUOTE_NEAR, row=len(rows) + 1) from exc
    if not rows or rows[-1] != [sentinel]:
        # The sentinel line was swallowed by a quoted field that never ends.
        raise ImportFileError(FILE_QUOTE_IN, row=len(rows))
    rows.pop()
    logger.debug("csv: %d records, delimiter %r", len(rows), delimiter)
    return rows


def neutralize_cell(text: str) -> str:
    """Prefix «'» so a spreadsheet shows the cell as text instead of running it as a formula.

    Any run of «'» already in front of a formula character gets one more, so
    `restore_cell` undoes exactly this and nothing else.
    """
    rest = text.lstrip("'")
    if rest.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def restore_cell(text: str) -> str:
    """Undo `neutralize_cell`: drop one «'» in front of «'»s followed by a formula character."""
    if text.startswith("'") and text.lstrip("'").startswith(FORMULA_STARTS):
        return text[1:]
    return text


def cell_text(value: Any) -> str:
    """A spreadsheet cell as text: dates dd.mm.yyyy, whole floats without «.0»."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y")
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, bool):
        return "да" if value else "нет"  # cell data as a Russian spreadsheet shows it
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value).strip()


def _read_xlsx(raw: bytes) -> list[list[str]]:
    """Rows of the first sheet of an XLSX workbook as text."""
    # python-calamine (Rust) reads a 10,000-row sheet ~20x faster than openpyxl's read-only mode.
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(raw))
        names = workbook.sheet_names
        if not names:
            return []
        sheet = workbook.get_sheet_by_index(0)
    except Exception as exc:  # noqa: BLE001 - calamine raises its own error types for bad files
        logger.info("xlsx rejected: %r", exc)
        raise ImportFileError(FILE_XLSX_UNREADABLE) from exc
    rows: list[list[str]] = []
    filled = 0
    limit = MAX_ROWS
    try:
        for values in sheet.iter_rows():
            row = [cell_text(value) for value in values]
            while row and not row[-1]:
                row.pop()  # ragged rows, as openpyxl gave them
            rows.append(row)
            if _is_empty(row):
                if len(rows) > limit * 10:
                    raise _too_many_rows()
                continue
            filled += 1
            if filled > limit + 1:  # the header row does not count
                raise _too_many_rows()
    except ImportFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged sheet surfaces while iterating
        logger.info("xlsx rows rejected: %r", exc)
        raise ImportFileError(FILE_XLSX_DAMAGED) from exc
    return rows


def read_table(raw: bytes, file_name: str) -> list[list[str]]:
    """Rows of an uploaded CSV/TXT/XLSX file; trailing empty rows dropped, cells stripped."""
    if len(raw) > MAX_BYTES:
        raise ImportFileError(FILE_TOO_BIG, size=len(raw), limit=MAX_BYTES)
    rows = _read_by_extension(raw, file_name)
    while rows and _is_empty(rows[-1]):
        rows.pop()
    filled = sum(1 for row in rows if not _is_empty(row))
    if filled == 0:
        raise ImportFileError(FILE_EMPTY)
    if filled == 1:
        raise ImportFileError(FILE_HEADER_ONLY)
    if filled - 1 > MAX_ROWS:
        raise _too_many_rows()
    logger.info("read %s: %d rows", file_name, filled - 1)
    return rows


def _read_by_extension(raw: bytes, file_name: str) -> list[list[str]]:
    """The rows of a CSV/TXT or XLSX file, chosen by the file name's extension."""
    name = file_name.strip().lower()
    extension = name[name.rfind("."):] if "." in name else ""
    if extension in TEXT_EXTENSIONS:
        if not raw.strip():
            raise ImportFileError(FILE_EMPTY)
        if raw.startswith(b"PK\x03\x04"):
            raise ImportFileError(FILE_LOOKS_XLSX)
        return _read_csv(decode_bytes(raw))
    if extension in XLSX_EXTENSIONS:
        if not raw:
            raise ImportFileError(FILE_EMPTY)
        return _read_xlsx(raw)
    raise ImportFileError(FILE_EXTENSION, extension=extension)


# --------------------------------------------------------------------------- header


def map_header(header: list[str]) -> tuple[dict[str, int], list[str], list[ImportProblem]]:
    """Field → column index, unknown column names, and repeated-column problems (row unset)."""
    columns: dict[str, int] = {}
    unknown: list[str] = []
    repeated: list[ImportProblem] = []
    for index, title in enumerate(header):
        title = title.strip()
        if not title:
            continue
        key = _header_key(title)
        if key in _EXPORT_ONLY_KEYS:
            continue
        name = HEADER_ALIASES.get(key)
        if name is None:
            unknown.append(title)
        elif name in columns:
            repeated.append(ImportProblem(REPEATED_COLUMN, params={
                "first": header[columns[name]].strip(), "second": title, "field": name}))
        else:
            columns[name] = index
    return columns, unknown, repeated


def _header(rows: list[list[str]], plan: ImportPlan) -> tuple[int, dict[str, int]] | None:
    """The header's row index and its columns; None (with the errors in plan) when unusable."""
    header_index = next((i for i, row in enumerate(rows) if not _is_empty(row)), None)
    if header_index is None:
        plan.errors.append(ImportProblem(NO_HEADER, 1))
        return None
    header_row = header_index + 1
    columns, unknown, repeated = map_header(rows[header_index])
    plan.warnings.extend(ImportProblem(UNKNOWN_COLUMN, params={"title": title})
                         for title in unknown)
    for problem in repeated:
        problem.row = header_row
        plan.errors.append(problem)
    missing = [name for name in REQUIRED_FIELDS if name not in columns]
    if missing:
        plan.errors.append(ImportProblem(MISSING_COLUMNS, header_row, {"fields": missing}))
    return None if plan.errors else (header_index, columns)


# --------------------------------------------------------------------------- values


def parse_date(text: str, today: date) -> date:
    """A date in an import file: `dates.parse_recorded_date` (year required, time ignored)."""
    return parse_recorded_date(text, today)


def _fold(text: str) -> str:
    """Category lookup key: lower case, ё→е, single spaces."""
    return " ".join(text.lower().replace("ё", "е").split())


# --------------------------------------------------------------------------- plan


@dataclass
class _FileState:
    """What validation of one file remembers from row to row, and what it checks against."""

    existing: ExistingData
    today: date
    domains: tuple[str, ...]
    categories: dict[str, str]
    folded_categories: dict[str, str]
    seen_numbers: dict[int, int] = field(default_factory=dict)
    seen_serials: dict[str, int] = field(default_factory=dict)
    places_without_holder: int = 0


@dataclass
class _Row:
    """One data row under validation: its cells by field, clean values, and problems."""

    row: int
    cells: dict[str, str]
    values: dict[str, Any] = field(default_factory=dict)
    problems: list[ImportProblem] = field(default_factory=list)

    def problem(self, code: str, **params: Any) -> None:
        """Record a problem of this row."""
        self.problems.append(ImportProblem(code, self.row, params))


def _check_number(row: _Row, state: _FileState, text: str) -> None:
    """A positive integer that fits the column, not repeated in the file."""
    digits = text.replace(" ", "").replace("\u00a0", "")
    if not (_NUMBER.fullmatch(digits) and 0 < int(digits) <= MAX_NUMBER):
        row.problem(BAD_NUMBER, value=text)
        return
    number = int(digits)
    row.values["number"] = number
    first = state.seen_numbers.get(number)
    if first is not None:
        row.problem(DUPLICATE_NUMBER, number=number, first=first)
    else:
        state.seen_numbers[number] = row.row


def _check_category(row: _Row, state: _FileState, text: str) -> None:
    """An existing category, matched ignoring case, spaces and «ё»."""
    key = " ".join(text.split())
    category = state.categories.get(key.lower()) or state.folded_categories.get(_fold(key), "")
    if not category:
        row.problem(UNKNOWN_CATEGORY, value=text)
    row.values["category"] = category


def _check_serial(row: _Row, state: _FileState, text: str) -> None:
    """Unique in the file and in the database (ignoring case), except for its own device."""
    row.values["serial"] = text
    key = text.lower()
    first = state.seen_serials.get(key)
    if first is not None:
        row.problem(DUPLICATE_SERIAL, serial=text, first=first)
    else:
        state.seen_serials[key] = row.row
    owner = state.existing.numbers_by_serial.get(key)
    number = row.values.get("number")
    if owner is not None and number is not None and owner != number:
        row.problem(SERIAL_TAKEN, serial=text, owner=owner)


def _date_check(name: str) -> Callable[[_Row, _FileState, str], None]:
    """A validator of the date column `name`."""
    def check(row: _Row, state: _FileState, text: str) -> None:
        try:
            row.values[name] = parse_recorded_date(text, state.today)
        except InvalidDate:
            row.problem(BAD_DATE, field=name, value=text)
    check.__doc__ = f"A date in the column {name}."
    return check


def _check_email(row: _Row, state: _FileState, text: str) -> None:
    """A well-formed address (lower case, «mailto:» dropped) on an allowed domain."""
    email = text.lower().removeprefix("mailto:")
    row.values["email"] = email
    if email and (len(email) > 254 or not _EMAIL.match(email)):
        row.problem(BAD_EMAIL, value=text)
    elif email and state.domains and email.rsplit("@", 1)[1] not in state.domains:
        row.problem(EMAIL_DOMAIN, value=text, domains=state.domains)


# The rule of each column (in FIELDS order, so `number` is known when `serial` is checked);
# required, length and empty cells are handled for every column alike in _check_row.
VALIDATORS: dict[str, Callable[[_Row, _FileState, str], None]] = {
    "number": _check_number,
    "category": _check_category,
    "serial": _check_serial,
    "registered_on": _date_check("registered_on"),
    "due_date": _date_check("due_date"),
    "email": _check_email,
}
_EMPTY: dict[str, Any] = {"number": None, "registered_on": None, "due_date": None}


def _check_row(row: _Row, state: _FileState) -> None:
    """Every column's rule, then the rules across columns."""
    for name in FIELDS:
        text = row.cells[name]
        row.values[name] = _EMPTY.get(name, "")
        if not text:
            if name in REQUIRED_FIELDS:
                row.problem(REQUIRED_EMPTY, field=name)
            continue
        limit = FIELD_LIMITS.get(name)
        if limit is not None and len(text) > limit:
            row.problem(TOO_LONG, field=name, limit=limit)
        validator = VALIDATORS.get(name)
        if validator is None:
            row.values[name] = text
        else:
            validator(row, state, text)
    if row.cells["due_date"] and not row.values["email"]:
        row.problem(DUE_WITHOUT_EMAIL)
    if row.cells["place"] and not row.values["email"]:
        state.places_without_holder += 1


def _add_row(plan: ImportPlan, row: _Row, existing: ExistingData) -> None:
    """File a valid row as new or an update, and as a loan when it names another holder."""
    device = DeviceRow(row=row.row, **row.values)
    number, email = device.number, device.email
    (plan.updates if number in existing.devices_by_number else plan.new).append(device)
    if email and existing.open_loans.get(number, "").lower() != email:
        plan.loans.append(device)


def _cells(cells: list[str], columns: dict[str, int]) -> dict[str, str]:
    """The row's cell of every field ('' for a missing column or a short row), formulas undone."""
    width = len(cells)
    values = {}
    for name in FIELDS:
        col = columns.get(name)
        values[name] = restore_cell(cells[col].strip()).strip() if col is not None and \
            col < width else ""
    return values


def build_plan(
    rows: list[list[str]], existing: ExistingData, today: date,
    domains: tuple[str, ...] = (),
) -> ImportPlan:
    """Validate every row against the file itself and the database; nothing is written.

    `domains`: EMAIL_DOMAINS; a holder email outside them is an error, as in /add.
    """
    plan = ImportPlan()
    header = _header(rows, plan)
    if header is None:
        return plan
    header_index, columns = header
    state = _FileState(existing, today, domains, dict(existing.categories),
                       {_fold(key): value for key, value in existing.categories.items()})
    for index in range(header_index + 1, len(rows)):
        if _is_empty(rows[index]):
            continue
        row = _Row(index + 1, _cells(rows[index], columns))
        _check_row(row, state)
        if row.problems:
            plan.errors.extend(row.problems)
        else:
            _add_row(plan, row, existing)
    if state.places_without_holder:
        plan.warnings.append(ImportProblem(PLACE_WITHOUT_HOLDER,
                                           params={"count": state.places_without_holder}))
    if not plan.new and not plan.updates and not plan.errors:
        plan.errors.append(ImportProblem(NO_ROWS, header_index + 1))
    logger.info(
        "import plan: %d new, %d updates, %d loans, %d errors, %d warnings",
        len(plan.new), len(plan.updates), len(plan.loans), len(plan.errors), len(plan.warnings),
    )
    return plan


def plan_file(raw: bytes, file_name: str, existing: ExistingData, today: date) -> ImportPlan:
    """read_table + build_plan in one call; raises ImportFileError for unreadable files."""
    return build_plan(read_table(raw, file_name), existing, today)
