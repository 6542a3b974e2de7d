"""Admin file import: decode bytes → table rows → validated plan (no Telegram, no database)."""

from __future__ import annotations

import codecs
import csv
import io
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import cchardet

logger = logging.getLogger(__name__)

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000

TEXT_EXTENSIONS = (".csv", ".txt")
XLSX_EXTENSIONS = (".xlsx",)
ALLOWED_FORMATS = "CSV (.csv, .txt) или Excel (.xlsx)"

# Messages for the admin (Russian); the handler shows ImportFileError.message as is.
MSG_BINARY = ("Файл не похож на таблицу: в нём двоичные данные, а не текст. "
              f"Пришлите {ALLOWED_FORMATS}.")
MSG_EMPTY = "Файл пустой. Пришлите таблицу с заголовком и строками устройств."
MSG_HEADER_ONLY = "В файле только заголовок, строк с устройствами нет."

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
# file is accepted by the import as is.
CANONICAL_HEADER = (
    "Айди", "Название", "Категория", "Артикул", "Дата регистрации", "Прошивка", "Комментарий",
    "Электронная почта", "Место устройства", "Дата возврата",
)

# A spreadsheet runs a cell beginning with one of these as a formula (tab and CR too: some
# programs drop them and look at what follows). The export prefixes such a cell with «'».
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# How a field is called in messages: the predecessor's header word first.
FIELD_TITLES = {
    "number": "Айди (номер)",
    "name": "Название",
    "category": "Категория",
    "serial": "Артикул (серийный номер)",
    "registered_on": "Дата регистрации",
    "firmware": "Прошивка",
    "comment": "Комментарий",
    "email": "Электронная почта",
    "place": "Место устройства",
    "due_date": "Дата возврата",
}

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
_PRIOR = {"cp1251": 3.0}
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

_DATE_DMY = re.compile(r"(\d{1,2})[./-](\d{1,2})[./-](\d{4}|\d{2})", re.ASCII)
_DATE_ISO = re.compile(r"(\d{4})[-./](\d{1,2})[-./](\d{1,2})", re.ASCII)
_TIME_TAIL = re.compile(r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_NUMBER = re.compile(r"\d+", re.ASCII)  # «²» or «٣» is not a sticker number
_EMAIL = re.compile(r"^[a-z0-9._%+\-']+@[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?"
                    r"(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)+$")


class ImportFileError(Exception):
    """The file cannot be read as a device table; message is shown to the admin as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
class RowError:
    """A validation error tied to a spreadsheet row (the header is row 1)."""

    row: int
    reason: str

    @property
    def text(self) -> str:
        """The message shown to the admin, e.g. «Строка 5: номер 49 уже встречался в строке 3»."""
        return f"Строка {self.row}: {self.reason}"

    def __str__(self) -> str:
        """Same as text."""
        return self.text


@dataclass
class ImportPlan:
    """The validated content of a file: what an import would create and change."""

    new: list[DeviceRow] = field(default_factory=list)
    updates: list[DeviceRow] = field(default_factory=list)
    loans: list[DeviceRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing stops the import (an empty file is an error too)."""
        return not self.errors


# --------------------------------------------------------------------------- decoding


def _chardet_hint(raw: bytes) -> tuple[str | None, float]:
    """cchardet's guess (on the first 64 KB) mapped to one of CANDIDATES, with its confidence."""
    guess = cchardet.detect(raw[:_HINT_SAMPLE])
    name = (guess.get("encoding") or "").lower()
    return _CHARDET_NAMES.get(name), float(guess.get("confidence") or 0.0)


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
    high = sum(counts.values()) or 1
    best: tuple[str, str, float] | None = None
    best_score = 0.0
    for encoding in CANDIDATES:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        scores = _BYTE_SCORES[encoding]
        score = sum(count * scores[byte] for byte, count in counts.items())
        score += _CASE_FLIP_SCORE * len(_CASE_FLIP.findall(text))
        score += _PRIOR.get(encoding, 0.0)
        if encoding == hint:
            score += _HINT_WEIGHT * min(confidence, 1.0)
        # Strict ">" keeps the earlier candidate on ties: cp1251 wins them.
        if best is None or score > best_score:
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
        raise ImportFileError(MSG_BINARY)
    controls = len(_CONTROL.findall(text))
    if controls and controls > len(text) * _MAX_CONTROL_SHARE:
        raise ImportFileError(MSG_BINARY)


def decode_bytes(raw: bytes) -> str:
    """Text of a CSV file: BOM, then strict UTF-8, then the best Cyrillic single-byte codec."""
    text: str | None = None
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if raw.startswith(bom):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                raise ImportFileError(
                    f"Не удалось прочитать текст: файл начинается как {encoding.upper()}, "
                    "но дальше в нём не текст. Сохраните его заново как CSV UTF-8."
                ) from exc
            break
    if text is None:
        if b"\x00" in raw:
            raise ImportFileError(MSG_BINARY)
        text = _decode_unmarked(raw)
    text = text.lstrip("\ufeff").rstrip("\x1a")  # stray BOM; DOS end-of-file mark
    _check_text(text)
    return text


# --------------------------------------------------------------------------- tables


def _mb(size: int) -> str:
    """Size in megabytes with one decimal, Russian style."""
    return f"{size / 1024 / 1024:.1f}".replace(".", ",")


def _too_many_rows() -> ImportFileError:
    """The row-limit error (reads MAX_ROWS at call time)."""
    limit = f"{MAX_ROWS:,}".replace(",", " ")
    return ImportFileError(
        f"В файле больше {limit} строк с устройствами. Разделите его на части "
        f"не больше {limit} строк и пришлите по очереди."
    )


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
    best = max(counts, key=lambda sep: counts[sep])  # dict order puts "," first on ties
    return best if counts[best] else ","


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
        raise ImportFileError(
            f"Не закрыта кавычка около строки {len(rows) + 1}: проверьте кавычки в файле."
        ) from exc
    if not rows or rows[-1] != [sentinel]:
        # The sentinel line was swallowed by a quoted field that never ends.
        start = len(rows)
        raise ImportFileError(
            f"Не закрыта кавычка в строке {start}: проверьте кавычки в файле."
        )
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
        return "да" if value else "нет"
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
        raise ImportFileError(
            "Не удалось открыть XLSX: файл повреждён, защищён паролем или это не книга Excel. "
            "Сохраните его заново как .xlsx или CSV."
        ) from exc
    rows: list[list[str]] = []
    data_rows = 0
    header_seen = False
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
            if header_seen:
                data_rows += 1
                if data_rows > limit:
                    raise _too_many_rows()
            header_seen = True
    except ImportFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged sheet surfaces while iterating
        logger.info("xlsx rows rejected: %r", exc)
        raise ImportFileError(
            "Не удалось прочитать XLSX: файл повреждён. Сохраните его заново как .xlsx или CSV."
        ) from exc
    return rows


def read_table(raw: bytes, file_name: str) -> list[list[str]]:
    """Rows of an uploaded CSV/TXT/XLSX file; trailing empty rows dropped, cells stripped."""
    if len(raw) > MAX_BYTES:
        raise ImportFileError(
            f"Файл слишком большой: {_mb(len(raw))} МБ, а можно не больше "
            f"{_mb(MAX_BYTES)} МБ. Разделите его на части."
        )
    name = (file_name or "").strip().lower()
    extension = name[name.rfind("."):] if "." in name else ""
    if extension in TEXT_EXTENSIONS:
        if not raw.strip():
            raise ImportFileError(MSG_EMPTY)
        if raw.startswith(b"PK\x03\x04"):
            raise ImportFileError(
                "Это похоже на книгу Excel, а не на CSV: пришлите её с расширением .xlsx."
            )
        rows = _read_csv(decode_bytes(raw))
    elif extension in XLSX_EXTENSIONS:
        if not raw:
            raise ImportFileError(MSG_EMPTY)
        rows = _read_xlsx(raw)
    else:
        shown = f"«{extension}»" if extension else "без расширения"
        raise ImportFileError(
            f"Файлы {shown} не поддерживаются. Пришлите {ALLOWED_FORMATS}."
        )
    while rows and _is_empty(rows[-1]):
        rows.pop()
    filled = sum(1 for row in rows if not _is_empty(row))
    if filled == 0:
        raise ImportFileError(MSG_EMPTY)
    if filled == 1:
        raise ImportFileError(MSG_HEADER_ONLY)
    if filled - 1 > MAX_ROWS:
        raise _too_many_rows()
    logger.info("read %s: %d rows", file_name, filled - 1)
    return rows


# --------------------------------------------------------------------------- header


def map_header(header: list[str]) -> tuple[dict[str, int], list[str], list[str]]:
    """Field → column index, unknown column names, and repeated-column problems."""
    columns: dict[str, int] = {}
    unknown: list[str] = []
    repeated: list[str] = []
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
            repeated.append(
                f"столбцы «{header[columns[name]].strip()}» и «{title}» оба означают "
                f"«{FIELD_TITLES[name]}», оставьте один"
            )
        else:
            columns[name] = index
    return columns, unknown, repeated


# --------------------------------------------------------------------------- values


def parse_date(text: str, today: date | None = None) -> date:
    """A date from dd.mm.yyyy, d.m.yy or yyyy-mm-dd (a trailing time is ignored)."""
    value = text.strip()
    match = _DATE_ISO.match(value)
    if match and _TIME_TAIL.fullmatch(value[match.end():]):
        year, month, day = (int(part) for part in match.groups())
    else:
        match = _DATE_DMY.match(value)
        if not match or not _TIME_TAIL.fullmatch(value[match.end():]):
            raise ValueError(f"not a date: {text!r}")
        day, month = int(match.group(1)), int(match.group(2))
        year_text = match.group(3)
        year = int(year_text)
        if len(year_text) == 2:
            current = (today or date.today()).year
            year += current // 100 * 100
            if year > current + 20:
                year -= 100
    if not 1900 <= year <= 2200:
        raise ValueError(f"year out of range: {text!r}")
    return date(year, month, day)


def _in_rows(count: int) -> str:
    """«1 строке», «5 строках»: the count with the locative of «строка»."""
    word = "строке" if count % 10 == 1 and count % 100 != 11 else "строках"
    return f"{count} {word}"


def _fold(text: str) -> str:
    """Category lookup key: lower case, ё→е, single spaces."""
    return " ".join(text.lower().replace("ё", "е").split())


# --------------------------------------------------------------------------- plan


def build_plan(
    rows: list[list[str]], existing: ExistingData, today: date | None = None,
    domains: tuple[str, ...] = (),
) -> ImportPlan:
    """Validate every row against the file itself and the database; nothing is written.

    `domains`: EMAIL_DOMAINS; a holder email outside them is an error, as in /add.
    """
    plan = ImportPlan()
    header_index = next((i for i, row in enumerate(rows) if not _is_empty(row)), None)
    if header_index is None:
        plan.errors.append(RowError(1, "в файле нет заголовка и строк с устройствами"))
        return plan
    header_row = header_index + 1
    columns, unknown, repeated = map_header(rows[header_index])
    plan.warnings.extend(f"Неизвестный столбец «{title}» пропущен" for title in unknown)
    plan.errors.extend(RowError(header_row, problem) for problem in repeated)
    missing = [FIELD_TITLES[name] for name in REQUIRED_FIELDS if name not in columns]
    if missing:
        names = ", ".join(f"«{title}»" for title in missing)
        plural = "обязательного столбца" if len(missing) == 1 else "обязательных столбцов"
        plan.errors.append(RowError(header_row, f"в заголовке нет {plural} {names}"))
    if plan.errors:
        return plan

    today = today or date.today()
    categories = dict(existing.categories)
    folded_categories = {_fold(key): value for key, value in existing.categories.items()}
    seen_numbers: dict[int, int] = {}
    seen_serials: dict[str, int] = {}
    places_without_holder = 0
    picks = [(name, columns.get(name)) for name in FIELDS]

    for index in range(header_index + 1, len(rows)):
        cells = rows[index]
        if _is_empty(cells):
            continue
        row_no = index + 1
        width = len(cells)
        value = {
            name: (restore_cell(cells[col].strip()).strip()
                   if col is not None and col < width else "")
            for name, col in picks
        }
        reasons: list[str] = []
        for name in REQUIRED_FIELDS:
            if not value[name]:
                reasons.append(f"не заполнено поле «{FIELD_TITLES[name]}»")

        number: int | None = None
        number_text = value["number"].replace(" ", "").replace("\u00a0", "")
        if number_text:
            if _NUMBER.fullmatch(number_text) and 0 < int(number_text) <= MAX_NUMBER:
                number = int(number_text)
            else:
                reasons.append(
                    f"номер «{value['number']}» должен быть целым положительным числом"
                )
        if number is not None:
            first = seen_numbers.get(number)
            if first is not None:
                reasons.append(f"номер {number} уже встречался в строке {first}")
            else:
                seen_numbers[number] = row_no

        for name, limit in FIELD_LIMITS.items():
            if len(value[name]) > limit:
                reasons.append(
                    f"поле «{FIELD_TITLES[name]}» длиннее {limit} символов"
                )

        category = ""
        if value["category"]:
            key = " ".join(value["category"].split())
            category = categories.get(key.lower()) or folded_categories.get(_fold(key), "")
            if not category:
                reasons.append(f"неизвестная категория «{value['category']}»")

        serial = value["serial"]
        if serial:
            serial_key = serial.lower()
            first = seen_serials.get(serial_key)
            if first is not None:
                reasons.append(f"серийный номер «{serial}» уже встречался в строке {first}")
            else:
                seen_serials[serial_key] = row_no
            owner = existing.numbers_by_serial.get(serial_key)
            if owner is not None and number is not None and owner != number:
                reasons.append(
                    f"серийный номер «{serial}» уже есть у устройства № {owner}"
                )

        dates: dict[str, date | None] = {}
        for name in ("registered_on", "due_date"):
            dates[name] = None
            if value[name]:
                try:
                    dates[name] = parse_date(value[name], today)
                except ValueError:
                    reasons.append(
                        f"неверная дата в поле «{FIELD_TITLES[name]}»: «{value[name]}», "
                        "нужен формат ДД.ММ.ГГГГ"
                    )

        email = value["email"].lower().removeprefix("mailto:")
        if email and (len(email) > 254 or not _EMAIL.match(email)):
            reasons.append(f"неверный адрес почты «{value['email']}»")
        elif email and domains and email.rsplit("@", 1)[1] not in domains:
            reasons.append(f"адрес «{value['email']}» не на разрешённом домене "
                           f"({', '.join('@' + d for d in domains)})")
        if value["due_date"] and not email:
            reasons.append("дата возврата указана, а почта держателя — нет")
        if value["place"] and not email:
            places_without_holder += 1

        if reasons:
            plan.errors.extend(RowError(row_no, reason) for reason in reasons)
            continue
        assert number is not None
        device = DeviceRow(
            row=row_no,
            number=number,
            name=value["name"],
            category=category,
            serial=serial,
            registered_on=dates["registered_on"],
            firmware=value["firmware"],
            comment=value["comment"],
            email=email,
            place=value["place"],
            due_date=dates["due_date"],
        )
        if number in existing.devices_by_number:
            plan.updates.append(device)
        else:
            plan.new.append(device)
        if email and existing.open_loans.get(number, "").lower() != email:
            plan.loans.append(device)

    if places_without_holder:
        plan.warnings.append(
            f"В {_in_rows(places_without_holder)} место указано без почты держателя: "
            "место хранится только у выданного устройства, эти места пропущены"
        )
    if not plan.new and not plan.updates and not plan.errors:
        plan.errors.append(RowError(header_row, "в файле нет строк с устройствами"))
    logger.info(
        "import plan: %d new, %d updates, %d loans, %d errors, %d warnings",
        len(plan.new), len(plan.updates), len(plan.loans), len(plan.errors), len(plan.warnings),
    )
    return plan


def plan_file(
    raw: bytes, file_name: str, existing: ExistingData, today: date | None = None
) -> ImportPlan:
    """read_table + build_plan in one call; raises ImportFileError for unreadable files."""
    return build_plan(read_table(raw, file_name), existing, today)
