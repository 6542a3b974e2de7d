"""Tests of the file import: decoding, table reading, header mapping and row validation."""

from __future__ import annotations

import csv
import io
import random
import zipfile
from datetime import date, datetime

import openpyxl
import pytest

from handlers import texts as templates
from handlers.import_problems import file_error_text, problem_text
from inventory import importing
from inventory.errors import InvalidDate
from inventory.importing import (
    FILE_BINARY,
    FILE_EMPTY,
    FILE_HEADER_ONLY,
    DeviceRow,
    ExistingData,
    ImportFileError,
    build_plan,
    decode_bytes,
    map_header,
    parse_date,
    plan_file,
    read_table,
)

# build_plan takes the clock from its caller (two-digit years are read around it).
TODAY = date(2025, 6, 1)

PREDECESSOR_HEADER = [
    "Айди", "Название", "Категория", "Артикул", "Дата регистрации", "Прошивка", "Комментарий",
    "Электронная почта", "Место устройства", "Дата возврата",
]

# Cells with separators, quotes and a line break; every character exists in cp866 and koi8-r.
DATA = [
    ["1", "Эвотор 7.2, белый; новый", "Онлайн-касса", "EV-001", "01.02.2024", "4.5",
     "наклейка сбоку\nвторая строка", "Ivan.Petrov@Example.com", "Склад 3", "15.03.2025"],
    ["2", "Сканер Honeywell", "Сканер", "SC-002", "", "", "", "", "", ""],
    ["3", "Весы Штрих-М", "Весы", "W-003", "2023-12-31", "1.0", 'с "кавычками"', "", "", ""],
]

CATEGORIES = {
    "онлайн-касса": "Онлайн-касса",
    "сканер": "Сканер",
    "весы": "Весы",
    "счётчик купюр": "Счётчик купюр",
}

SHORT_HEADER = [
    "Айди", "Название", "Категория", "Артикул", "Дата регистрации", "Электронная почта",
    "Место устройства", "Дата возврата",
]


def existing(**kwargs: dict) -> ExistingData:
    """ExistingData with the test categories unless given."""
    kwargs.setdefault("categories", dict(CATEGORIES))
    return ExistingData(**kwargs)


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8", delimiter: str = ",",
              tail: str = "") -> bytes:
    """A CSV file as a spreadsheet program writes it, with optional trailing text."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return (buffer.getvalue() + tail).encode(encoding)


def xlsx_bytes(rows: list[list], *, extra_sheet_first_active: bool = False) -> bytes:
    """An XLSX workbook whose first sheet holds rows."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Устройства"
    for row in rows:
        sheet.append(row)
    if extra_sheet_first_active:
        other = workbook.create_sheet("Другое")
        other.append(["не", "та", "таблица"])
        other.append(["x", "y", "z"])
        workbook.active = 1
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def row(number: str, name: str = "Касса", category: str = "Онлайн-касса", serial: str = "",
        registered: str = "", email: str = "", place: str = "", due: str = "") -> list[str]:
    """A data row for SHORT_HEADER; the serial defaults to one derived from the number."""
    return [number, name, category, serial or f"SN-{number}", registered, email, place, due]


def plan_of(*rows: list[str], data: ExistingData | None = None,
            header: list[str] | None = None) -> importing.ImportPlan:
    """build_plan over SHORT_HEADER (or header) and rows."""
    return build_plan([header or SHORT_HEADER, *rows], data or existing(), TODAY)


def texts(plan: importing.ImportPlan) -> list[str]:
    """The error texts of a plan."""
    return [problem_text(error) for error in plan.errors]


# --------------------------------------------------------------------------- encodings


@pytest.mark.parametrize("delimiter", [",", ";"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1251", "koi8-r", "cp866"])
def test_predecessor_file_in_every_encoding_and_delimiter(encoding: str, delimiter: str) -> None:
    raw = csv_bytes([PREDECESSOR_HEADER, *DATA], encoding, delimiter,
                    tail="\r\n\r\n" + delimiter * 9 + "\r\n  \r\n")
    assert read_table(raw, "export.csv") == [PREDECESSOR_HEADER, *DATA]

    plan = plan_file(raw, "export.csv", existing(), TODAY)
    assert plan.ok, texts(plan)
    assert [device.number for device in plan.new] == [1, 2, 3]
    first = plan.new[0]
    assert first == DeviceRow(
        row=2, number=1, name="Эвотор 7.2, белый; новый", category="Онлайн-касса",
        serial="EV-001", registered_on=date(2024, 2, 1), firmware="4.5",
        comment="наклейка сбоку\nвторая строка", email="ivan.petrov@example.com",
        place="Склад 3", due_date=date(2025, 3, 15),
    )
    assert plan.new[2].registered_on == date(2023, 12, 31)
    assert plan.new[2].comment == 'с "кавычками"'
    assert plan.loans == [first]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_with_bom(encoding: str) -> None:
    text = "\r\n".join(",".join(line) for line in [SHORT_HEADER, row("7", "Планшет")])
    raw = text.encode(encoding)
    if encoding == "utf-16-be":
        raw = b"\xfe\xff" + raw
    assert decode_bytes(raw) == text


@pytest.mark.parametrize("word", ["Мир", "Кот", "Нет", "ККТ", "ФР", "Весы", "Касса"])
def test_short_cp1251_words(word: str) -> None:
    assert decode_bytes(word.encode("cp1251")) == word


@pytest.mark.parametrize(("word", "encoding"), [
    ("Мир", "koi8-r"),
    ("Весы", "koi8-r"),  # cchardet 2.4.0 calls these bytes WINDOWS-1251 with confidence 1.0
    ("Эвотор", "koi8-r"),
    ("Мир", "cp866"),
    ("Весы", "cp866"),
    ("так", "cp866"),  # also valid UTF-8 (a Braille sign): must not be taken for UTF-8
    ("Ёлка", "cp866"),  # also valid UTF-8 (a CJK ideograph)
])
def test_short_words_in_other_cyrillic_codecs(word: str, encoding: str) -> None:
    assert decode_bytes(word.encode(encoding)) == word


@pytest.mark.parametrize("text", ["Принтер 打印机", "café, ß", "₽ 100 №5 «ок» — да 👍", "Ω"])
def test_genuine_utf8_is_kept(text: str) -> None:
    assert decode_bytes(text.encode("utf-8")) == text


def test_predecessor_header_alone_in_each_codec_is_decoded() -> None:
    line = ",".join(PREDECESSOR_HEADER)
    for encoding in ("cp1251", "koi8-r", "cp866"):
        assert decode_bytes(line.encode(encoding)) == line, encoding


def test_tab_separated_txt() -> None:
    raw = csv_bytes([SHORT_HEADER, row("5", "Планшет, 10 дюймов")], "cp1251", "\t")
    assert read_table(raw, "list.TXT")[1][1] == "Планшет, 10 дюймов"


def test_delimiter_counts_only_outside_quotes() -> None:
    header = 'Айди;"Название, модель, цвет, размер";Категория;Артикул\r\n'
    raw = (header + "1;Эвотор;Онлайн-касса;S1\r\n").encode("cp1251")
    assert read_table(raw, "a.csv") == [
        ["Айди", "Название, модель, цвет, размер", "Категория", "Артикул"],
        ["1", "Эвотор", "Онлайн-касса", "S1"],
    ]


def test_cells_are_stripped_and_stray_control_char_is_tolerated() -> None:
    text = "Айди , Название,Категория,Артикул\n 1 ,\u00a0Эвотор\x0b ,Онлайн-касса,  S1\n"
    text += "2,Сканер,Сканер,S2\n" * 10
    assert read_table(text.encode("utf-8"), "a.csv")[:2] == [
        ["Айди", "Название", "Категория", "Артикул"],
        ["1", "Эвотор", "Онлайн-касса", "S1"],
    ]


def test_quoted_newline_keeps_spreadsheet_row_numbers() -> None:
    raw = csv_bytes([
        SHORT_HEADER,
        row("1", "Касса\nс переносом"),
        row("2", category="Нет такой"),
    ], "cp1251", ";")
    plan = plan_file(raw, "a.csv", existing(), TODAY)
    assert texts(plan) == ["Строка 3: неизвестная категория «Нет такой»"]


def test_unclosed_quote_is_reported() -> None:
    raw = 'Айди,Название,Категория,Артикул\n1,"Эвотор,Онлайн-касса,S1\n2,Сканер,Сканер,S2\n'
    with pytest.raises(ImportFileError) as caught:
        read_table(raw.encode("utf-8"), "a.csv")
    assert "кавычк" in file_error_text(caught.value)
    assert "строке 2" in file_error_text(caught.value)


# --------------------------------------------------------------------------- malformed files


def test_every_problem_code_has_its_own_message() -> None:
    file_texts = {file_error_text(ImportFileError(code, encoding="UTF-16", row=2, limit=3, size=9,
                                                  extension=".pdf"))
                  for code in importing.FILE_PROBLEMS}
    assert len(file_texts) == len(importing.FILE_PROBLEMS)
    params = {"first": "A", "second": "B", "field": "name", "fields": ["name"], "value": "x",
              "number": 1, "limit": 2, "serial": "S", "owner": 3, "domains": ("a.ru",),
              "title": "T", "count": 4}
    plan_texts = {problem_text(importing.ImportProblem(code, 2, params))
                  for code in importing.PLAN_PROBLEMS}
    assert len(plan_texts) == len(importing.PLAN_PROBLEMS)
    assert file_error_text(ImportFileError(FILE_BINARY)) == templates.IMPORT_FILE_BINARY.format(
        formats=templates.IMPORT_FORMATS)


@pytest.mark.parametrize("raw", [
    b"\x00\x01binary\x00data",
    bytes(range(1, 32)) * 20 + "Айди".encode("cp1251"),
    random.Random(5).randbytes(4096).replace(b"\x00", b""),
    b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
], ids=["nul", "controls", "random", "png"])
def test_binary_garbage(raw: bytes) -> None:
    with pytest.raises(ImportFileError) as caught:
        read_table(raw, "devices.csv")
    assert caught.value.code == FILE_BINARY
    with pytest.raises(ImportFileError):
        decode_bytes(raw)


def test_workbook_renamed_to_csv() -> None:
    with pytest.raises(ImportFileError) as caught:
        read_table(xlsx_bytes([SHORT_HEADER, row("1")]), "devices.csv")
    assert ".xlsx" in file_error_text(caught.value)


@pytest.mark.parametrize("raw", [b"", b"  \r\n\r\n", b"\xef\xbb\xbf", b";;;\r\n;;\r\n"])
def test_empty_csv(raw: bytes) -> None:
    with pytest.raises(ImportFileError) as caught:
        read_table(raw, "devices.csv")
    assert caught.value.code == FILE_EMPTY


def test_empty_xlsx() -> None:
    for raw in (b"", xlsx_bytes([]), xlsx_bytes([["  ", None]])):
        with pytest.raises(ImportFileError) as caught:
            read_table(raw, "devices.xlsx")
        assert caught.value.code == FILE_EMPTY


def test_header_only() -> None:
    files = [
        ("a.csv", csv_bytes([PREDECESSOR_HEADER], "cp1251", ";", tail="\r\n;;;\r\n")),
        ("a.xlsx", xlsx_bytes([PREDECESSOR_HEADER, ["", "  "]])),
    ]
    for name, raw in files:
        with pytest.raises(ImportFileError) as caught:
            read_table(raw, name)
        assert caught.value.code == FILE_HEADER_ONLY, name


@pytest.mark.parametrize("name", ["devices.pdf", "devices.xls", "devices", "devices.csv.exe"])
def test_wrong_extension(name: str) -> None:
    raw = csv_bytes([SHORT_HEADER, row("1")])
    with pytest.raises(ImportFileError) as caught:
        read_table(raw, name)
    message = file_error_text(caught.value)
    assert "не поддерживаются" in message
    assert "CSV" in message and ".xlsx" in message


def test_extension_is_case_insensitive() -> None:
    assert len(read_table(csv_bytes([SHORT_HEADER, row("1")]), "DEVICES.CSV")) == 2


def test_too_large_is_checked_before_anything_else() -> None:
    raw = b"\x00" * (importing.MAX_BYTES + 1)
    for name in ("big.csv", "big.pdf", "big.xlsx"):
        with pytest.raises(ImportFileError) as caught:
            read_table(raw, name)
        assert "слишком большой" in file_error_text(caught.value)
        assert "5,0 МБ" in file_error_text(caught.value)


def test_size_limit_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = csv_bytes([SHORT_HEADER, row("1")])
    monkeypatch.setattr(importing, "MAX_BYTES", len(raw))
    assert len(read_table(raw, "a.csv")) == 2
    with pytest.raises(ImportFileError) as caught:
        read_table(raw + b"\r\n", "a.csv")
    assert "слишком большой" in file_error_text(caught.value)


def test_row_limit_csv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importing, "MAX_ROWS", 3)
    rows = [SHORT_HEADER, row("1"), [], row("2"), row("3")]
    assert len(read_table(csv_bytes(rows), "a.csv")) == 5  # empty rows do not count
    with pytest.raises(ImportFileError) as caught:
        read_table(csv_bytes([*rows, row("4")]), "a.csv")
    assert "больше 3 строк" in file_error_text(caught.value)


def test_row_limit_xlsx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importing, "MAX_ROWS", 3)
    rows = [SHORT_HEADER, row("1"), row("2"), row("3")]
    assert len(read_table(xlsx_bytes(rows), "a.xlsx")) == 4
    with pytest.raises(ImportFileError) as caught:
        read_table(xlsx_bytes([*rows, row("4")]), "a.xlsx")
    assert "больше 3 строк" in file_error_text(caught.value)


def test_default_limits() -> None:
    assert importing.MAX_BYTES == 5 * 1024 * 1024
    assert importing.MAX_ROWS == 20_000


# --------------------------------------------------------------------------- xlsx


def test_xlsx_first_sheet_values_as_text() -> None:
    raw = xlsx_bytes([
        PREDECESSOR_HEADER,
        [49, "Эвотор 7.2", "Онлайн-касса", 123456789012.0, datetime(2024, 2, 1, 0, 0), 4.5,
         None, "A@B.RU", "Склад", date(2025, 3, 1)],
        [50.0, "Сканер", "сканер", "SC-50", "01.02.2024", "1.0", "", None, None, None],
        ["   ", None],
        [None, ""],
    ], extra_sheet_first_active=True)
    rows = read_table(raw, "devices.xlsx")
    assert rows == [
        PREDECESSOR_HEADER,
        ["49", "Эвотор 7.2", "Онлайн-касса", "123456789012", "01.02.2024", "4.5", "",
         "A@B.RU", "Склад", "01.03.2025"],
        ["50", "Сканер", "сканер", "SC-50", "01.02.2024", "1.0"],  # trailing blanks cut
    ]
    plan = build_plan(rows, existing(), TODAY)
    assert plan.ok, texts(plan)
    assert [(d.number, d.category, d.due_date) for d in plan.new] == [
        (49, "Онлайн-касса", date(2025, 3, 1)),
        (50, "Сканер", None),
    ]


def test_xlsx_not_a_zip() -> None:
    with pytest.raises(ImportFileError) as caught:
        read_table(b"this is not a workbook", "devices.xlsx")
    assert "XLSX" in file_error_text(caught.value)


def test_xlsx_zip_without_workbook() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "привет")
    with pytest.raises(ImportFileError) as caught:
        read_table(buffer.getvalue(), "devices.xlsx")
    assert "XLSX" in file_error_text(caught.value)


# --------------------------------------------------------------------------- header


def test_header_columns_after_a_blank_or_export_only_title_still_count() -> None:
    """A blank title or an export-only column (holder, overdue days) is skipped, not the end."""
    columns, unknown, repeated = map_header(
        ["Номер", "", "Имя держателя", "Название", "Дней просрочки", "Серийный номер", "Цвет"])
    assert columns == {"number": 0, "name": 3, "serial": 5}
    assert unknown == ["Цвет"] and repeated == []


@pytest.mark.parametrize(("title", "field"), [
    ("Айди", "number"), ("Номер", "number"), ("id", "number"), ("Number", "number"),
    ("Название", "name"), ("Наименование", "name"), ("name", "name"),
    ("Категория", "category"), ("category", "category"), ("Тип", "category"),
    ("Артикул", "serial"), ("Серийный номер", "serial"), ("ЗН", "serial"), ("СН", "serial"),
    ("Артикул / ЗН / СН", "serial"), ("serial", "serial"), ("Serial_Number", "serial"),
    ("S/N", "serial"),
    ("Дата регистрации", "registered_on"), ("registration date", "registered_on"),
    ("registered_on", "registered_on"),
    ("Прошивка", "firmware"), ("firmware", "firmware"),
    ("Комментарий", "comment"), ("comment", "comment"), ("Примечание", "comment"),
    ("Электронная почта", "email"), ("email", "email"), ("E-mail", "email"),
    ("holder", "email"),
    ("Место устройства", "place"), ("Место", "place"), ("place", "place"),
    ("Дата возврата", "due_date"), ("Срок возврата", "due_date"), ("due date", "due_date"),
    ("due_date", "due_date"),
    # case, spacing, punctuation and ё do not matter
    ("  НАЗВАНИЕ ", "name"), ("дата   РЕГИСТРАЦИИ", "registered_on"),
    ("Место устройства:", "place"), ("Серийный номёр", "serial"), ("Due-Date", "due_date"),
])
def test_header_aliases(title: str, field: str) -> None:
    columns, unknown, repeated = map_header(["x", title])
    assert columns == {field: 1}
    assert unknown == ["x"]
    assert repeated == []


def test_english_header_file() -> None:
    header = ["id", "name", "category", "serial", "registration date", "firmware", "comment",
              "email", "place", "due date"]
    raw = csv_bytes([header, *DATA])
    plan = plan_file(raw, "en.csv", existing(), TODAY)
    assert plan.ok, texts(plan)
    assert plan.new[0].email == "ivan.petrov@example.com"
    assert plan.new[0].due_date == date(2025, 3, 15)


def test_free_column_order() -> None:
    order = [9, 3, 0, 7, 2, 5, 1, 8, 4, 6]
    shuffled = [[line[i] for i in order] for line in [PREDECESSOR_HEADER, *DATA]]
    plain = build_plan([PREDECESSOR_HEADER, *DATA], existing(), TODAY)
    moved = build_plan(shuffled, existing(), TODAY)
    assert moved.ok and plain.ok
    assert moved.new == plain.new
    assert moved.loans == plain.loans


def test_unknown_column_is_a_warning() -> None:
    plan = plan_of(row("1"), header=[*SHORT_HEADER, "Цвет"])
    assert plan.ok
    assert [problem_text(w) for w in plan.warnings] == [
        templates.IMPORT_UNKNOWN_COLUMN.format(title="Цвет")]
    assert len(plan.new) == 1


def test_missing_required_column_is_an_error() -> None:
    header = [title for title in SHORT_HEADER if title != "Категория"]
    plan = build_plan([header, ["1", "Касса", "SN-1", "", "", "", ""]], existing(), TODAY)
    assert not plan.ok
    assert [error.row for error in plan.errors] == [1]
    assert "«Категория»" in problem_text(plan.errors[0])
    assert plan.new == [] and plan.updates == []


def test_two_columns_for_one_field_is_an_error() -> None:
    plan = plan_of(row("1"), header=[*SHORT_HEADER, "Номер"])
    assert [error.row for error in plan.errors] == [1]
    assert "«Айди»" in problem_text(plan.errors[0]) and "«Номер»" in problem_text(plan.errors[0])


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(("text", "expected"), [
    ("05.03.2024", date(2024, 3, 5)),
    ("5.3.2024", date(2024, 3, 5)),
    ("5.3.24", date(2024, 3, 5)),
    ("5.3.99", date(1999, 3, 5)),
    ("2024-03-05", date(2024, 3, 5)),
    (" 2024-03-05 00:00:00 ", date(2024, 3, 5)),
    ("05.03.2024 0:00", date(2024, 3, 5)),
])
def test_parse_date(text: str, expected: date) -> None:
    assert parse_date(text, today=date(2025, 6, 1)) == expected


@pytest.mark.parametrize("text", [
    "", "31.02.2024", "2024-13-01", "5/3", "завтра", "05.03.2024abc", "1.2.3", "32.01.2024",
])
def test_parse_date_rejects(text: str) -> None:
    with pytest.raises(InvalidDate):
        parse_date(text, today=date(2025, 6, 1))


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(("column", "title"), [
    (0, "Айди (номер)"), (1, "Название"), (2, "Категория"), (3, "Артикул (серийный номер)"),
])
def test_missing_required_field(column: int, title: str) -> None:
    bad = row("2")
    bad[column] = ""
    plan = plan_of(row("1"), bad)
    assert f"Строка 3: не заполнено поле «{title}»" in texts(plan)
    assert {error.row for error in plan.errors} == {3}
    assert [device.number for device in plan.new] == [1]
    assert not plan.ok


@pytest.mark.parametrize("number", ["0", "-1", "4.5", "abc", "1e3", "99999999999"])
def test_number_must_be_positive_integer(number: str) -> None:
    plan = plan_of(row(number))
    assert texts(plan) == [f"Строка 2: номер «{number}» должен быть целым положительным числом"]


def test_duplicate_number_inside_file() -> None:
    plan = plan_of(row("1"), row("49"), row("2"), row("49", serial="OTHER"))
    assert texts(plan) == ["Строка 5: номер 49 уже встречался в строке 3"]
    assert [device.number for device in plan.new] == [1, 49, 2]


def test_duplicate_serial_inside_file_ignores_case() -> None:
    plan = plan_of(row("1", serial="ab-1"), row("2", serial="AB-1"))
    assert texts(plan) == ["Строка 3: серийный номер «AB-1» уже встречался в строке 2"]


def test_unknown_category() -> None:
    rows = [row(str(n)) for n in range(1, 6)] + [row("6", category="Весы2")]
    plan = plan_of(*rows)
    assert texts(plan) == ["Строка 7: неизвестная категория «Весы2»"]


def test_category_match_is_case_space_and_yo_insensitive() -> None:
    plan = plan_of(row("1", category="ОНЛАЙН-касса"), row("2", category="  Счетчик   купюр "))
    assert plan.ok, texts(plan)
    assert [device.category for device in plan.new] == ["Онлайн-касса", "Счётчик купюр"]


def test_bad_dates() -> None:
    plan = plan_of(row("1", registered="31.02.2024"),
                   row("2", email="a@b.ru", due="someday"))
    assert [error.row for error in plan.errors] == [2, 3]
    assert texts(plan)[0].startswith(
        "Строка 2: неверная дата в поле «Дата регистрации»: «31.02.2024»")
    assert texts(plan)[1].startswith("Строка 3: неверная дата в поле «Срок возврата»: «someday»")


@pytest.mark.parametrize("email", ["ivan@", "ivan", "ivan@example", "a b@c.ru", "@c.ru"])
def test_bad_email(email: str) -> None:
    plan = plan_of(row("1", email=email))
    assert texts(plan) == [f"Строка 2: неверный адрес почты «{email}»"]


def test_due_date_needs_email() -> None:
    plan = plan_of(row("1", due="01.01.2030"))
    assert texts(plan) == [templates.IMPORT_ROW.format(
        row=2, reason=templates.IMPORT_DUE_WITHOUT_EMAIL)]


def test_place_without_email_is_a_warning() -> None:
    plan = plan_of(row("1", place="Склад"), row("2", email="a@b.ru", place="Офис"))
    assert plan.ok
    assert len(plan.warnings) == 1 and "1 строке" in problem_text(plan.warnings[0])
    assert plan.new[0].place == "Склад" and plan.new[1].place == "Офис"


def test_every_problem_of_a_row_is_reported() -> None:
    plan = plan_of(row("x", category="Весы2", registered="вчера", email="bad"))
    assert [error.row for error in plan.errors] == [2, 2, 2, 2]


def test_empty_rows_in_the_middle_keep_row_numbers() -> None:
    plan = plan_of(row("1"), [], ["", "  "], row("2", category="Весы2"))
    assert texts(plan) == ["Строка 5: неизвестная категория «Весы2»"]


def test_no_data_rows() -> None:
    plan = plan_of([], ["", ""])
    assert not plan.ok
    assert plan.errors[0].row == 1


# --------------------------------------------------------------------------- database


def test_serial_of_another_device_in_database() -> None:
    data = existing(devices_by_number={7: "SN-7"}, numbers_by_serial={"sn-7": 7})
    plan = plan_of(row("8", serial="sn-7"), data=data)
    assert texts(plan) == ["Строка 2: серийный номер «sn-7» уже есть у устройства № 7"]
    assert plan.new == []


def test_update_taking_another_devices_serial() -> None:
    data = existing(devices_by_number={7: "SN-7", 8: "SN-8"},
                    numbers_by_serial={"sn-7": 7, "sn-8": 8})
    plan = plan_of(row("7", serial="SN-7"), row("8", serial="SN-7x"), row("8", serial="SN-7"),
                   data=data)
    assert "Строка 4: серийный номер «SN-7» уже есть у устройства № 7" in texts(plan)
    assert [device.number for device in plan.updates] == [7, 8]


def test_plan_counts_new_updates_and_loans() -> None:
    data = existing(
        devices_by_number={1: "SN-1", 2: "SN-2"},
        numbers_by_serial={"sn-1": 1, "sn-2": 2},
        open_loans={1: "anna@example.com", 2: "boris@example.com"},
    )
    plan = plan_of(
        row("1", email="Anna@Example.com", place="Офис", due="01.09.2030"),  # same holder
        row("2", email="vera@example.com"),  # another holder: a loan
        row("3", email="gleb@example.com", due="2030-09-01"),  # new device, new loan
        row("4"),  # new device, free
        data=data,
    )
    assert plan.ok, texts(plan)
    assert [device.number for device in plan.new] == [3, 4]
    assert [device.number for device in plan.updates] == [1, 2]
    assert [(device.number, device.email) for device in plan.loans] == [
        (2, "vera@example.com"), (3, "gleb@example.com"),
    ]
    assert plan.updates[0].email == "anna@example.com"
    assert plan.new[0].due_date == date(2030, 9, 1)
    assert plan.warnings == []


def test_rows_with_errors_are_left_out_of_the_plan() -> None:
    plan = plan_of(row("1", email="a@b.ru"), row("2", email="a@b.ru", category="Весы2"))
    assert not plan.ok
    assert [device.number for device in plan.new] == [1]
    assert [device.number for device in plan.loans] == [1]


def test_import_file_error_carries_code_and_values() -> None:
    error = ImportFileError(importing.FILE_QUOTE_IN, row=7)
    assert error.code == importing.FILE_QUOTE_IN and error.params == {"row": 7}
    assert file_error_text(error) == templates.IMPORT_FILE_QUOTE_IN.format(row=7)


@pytest.mark.parametrize("text", [
    "05.03.2024", "5.3.24", "5.3.99", "2024-03-05", "2024.03.05", " 2024-03-05 00:00:00 ",
    "29.02.2024", "31.02.2024", "05.03", "завтра", "1.2.3",
])
def test_import_and_admin_forms_read_dates_alike(text: str) -> None:
    """The import's registration column and /add's registration step use one parser."""
    from inventory import catalog
    try:
        typed = catalog.parse_field("registered_on", text, today=TODAY)
    except Exception as exc:  # noqa: BLE001 - any refusal must be a refusal in both
        typed = type(exc).__name__
    plan = plan_of(row("1", registered=text))
    read = plan.new[0].registered_on if plan.ok else "InvalidValue"
    assert read == typed


# --------------------------------------------------------------------------- volume
# How fast these run is measured by `make bench` (bench/importing.py), not asserted here.


def test_build_plan_splits_a_large_file_into_new_and_known_devices() -> None:
    """Half the rows name known devices (by number and serial), half are new."""
    rows = [PREDECESSOR_HEADER] + [
        [str(n), f"Касса {n}", "Онлайн-касса", f"SN-{n}", "01.02.2024", "4.5", "комментарий",
         f"user{n % 50}@example.com" if n % 3 else "", "Склад" if n % 3 else "",
         "01.02.2030" if n % 3 else ""]
        for n in range(1, 2_001)
    ]
    data = existing(devices_by_number={n: f"SN-{n}" for n in range(1, 1001)},
                    numbers_by_serial={f"sn-{n}": n for n in range(1, 1001)})
    plan = build_plan(rows, data, TODAY)
    assert plan.ok, texts(plan)[:3]
    assert (len(plan.new), len(plan.updates)) == (1000, 1000)
    assert [device.number for device in plan.new][:2] == [1001, 1002]


def test_read_table_of_large_cp1251_file() -> None:
    """Every row of a long cp1251 file with semicolons comes back decoded."""
    rows = [PREDECESSOR_HEADER] + [
        [str(n), f"Касса {n}", "Онлайн-касса", f"SN-{n}", "01.02.2024", "4.5",
         "длинный комментарий про устройство", "", "", ""]
        for n in range(1, 2_001)
    ]
    table = read_table(csv_bytes(rows, "cp1251", ";"), "big.csv")
    assert len(table) == 2_001
    assert table[-1][:2] == ["2000", "Касса 2000"] and table[1][6] == rows[1][6]


def test_encoding_measurement_runs(monkeypatch):
    """bench.encoding (docs/encoding.md) still runs; the scorer reads short cp866 upper case."""
    from bench import encoding

    monkeypatch.setattr(encoding, "SIZES", {"one row": 1, "5 rows, UPPER CASE": -5})
    rows = encoding.measure(samples=5)
    right = {(size, enc, name): accuracy for size, enc, name, accuracy, _ms in rows}
    assert right[("5 rows, UPPER CASE", "cp866", "decode_bytes")] == 100
    assert all(right[("one row", enc, "decode_bytes")] == 100 for enc in encoding.ENCODINGS)


@pytest.mark.parametrize("text", ["15.12.2025", "15.12.25", "1.1.26", "2026-01-01", "2025.07.01"])
def test_import_due_dates_read_like_typed_due_dates(text: str) -> None:
    """A due date in a file and one typed in the take dialogue come out the same."""
    from inventory.dates import parse_future_date
    plan = plan_of(row("1", email="a@b.ru", due=text))
    assert plan.ok, texts(plan)
    assert plan.new[0].due_date == parse_future_date(text, TODAY)
