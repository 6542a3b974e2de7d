"""inventory/importing.py against mutants: cell conversion, XLSX limits, date columns, scores.

The rules here run at import time (the letter score table, the per-column validators) or are
only an early stop (the XLSX reader), so the behaviour tests in test_importing.py cannot see
them change; these tests pin each one directly (see docs/mutation.md).
"""

from __future__ import annotations

import codecs
import math
from datetime import date, datetime, time, timedelta

import pytest
from test_importing import CATEGORIES, SHORT_HEADER, row, xlsx_bytes

from inventory import importing
from inventory.importing import (
    BAD_DATE,
    FILE_TOO_MANY_ROWS,
    FILE_XLSX_DAMAGED,
    ExistingData,
    ImportFileError,
    ImportProblem,
    cell_text,
    plan_file,
    read_table,
)

TODAY = date(2025, 6, 1)


def test_import_file_error_keeps_code_and_values_in_its_args():
    error = ImportFileError(FILE_TOO_MANY_ROWS, limit=3)
    assert error.args == (FILE_TOO_MANY_ROWS, {"limit": 3})
    assert (error.code, error.params) == (FILE_TOO_MANY_ROWS, {"limit": 3})


@pytest.mark.parametrize(("value", "text"), [
    (None, ""),
    (datetime(2024, 2, 1, 13, 45), "01.02.2024"),
    (date(2025, 3, 9), "09.03.2025"),
    (time(7, 5), "07:05"),
    (timedelta(hours=25), "1 day, 1:00:00"),
    (True, "да"),
    (False, "нет"),
    (12.0, "12"),
    (4.5, "4.5"),
    (7, "7"),
    ("  текст ", "текст"),
])
def test_cell_text(value, text):
    assert cell_text(value) == text


def test_xlsx_empty_rows_in_the_middle_do_not_end_the_sheet():
    rows = read_table(xlsx_bytes([SHORT_HEADER, row("1"), [None], [None], row("2")]), "a.xlsx")
    assert [r[0] if r else "" for r in rows] == ["Айди", "1", "", "", "2"]


def test_xlsx_empty_rows_up_to_ten_times_the_limit_are_read(monkeypatch):
    monkeypatch.setattr(importing, "MAX_ROWS", 2)
    # 21 rows, the 20th empty: exactly ten times the limit before the last data row.
    sheet = [SHORT_HEADER, row("1"), *([None] for _ in range(18)), row("2")]
    assert len(read_table(xlsx_bytes(sheet), "a.xlsx")) == 21


def test_xlsx_empty_rows_beyond_ten_times_the_limit_stop_the_reading(monkeypatch):
    monkeypatch.setattr(importing, "MAX_ROWS", 2)
    sheet = [SHORT_HEADER, row("1"), *([None] for _ in range(19)), row("2")]
    with pytest.raises(ImportFileError) as caught:
        importing._read_xlsx(xlsx_bytes(sheet))
    assert caught.value.code == FILE_TOO_MANY_ROWS


def test_xlsx_reading_stops_at_the_first_row_over_the_limit(monkeypatch):
    monkeypatch.setattr(importing, "MAX_ROWS", 2)
    # The header does not count; blank rows in between do not either.
    assert len(importing._read_xlsx(xlsx_bytes([SHORT_HEADER, row("1"), [None], row("2")]))) == 4
    with pytest.raises(ImportFileError) as caught:
        importing._read_xlsx(xlsx_bytes([SHORT_HEADER, row("1"), row("2"), row("3")]))
    assert (caught.value.code, caught.value.params) == (FILE_TOO_MANY_ROWS, {"limit": 2})


def test_xlsx_damaged_while_reading_rows(monkeypatch):
    class Sheet:
        def iter_rows(self):
            yield ["Айди"]
            raise ValueError("broken")

    class Book:
        sheet_names = ["a"]

        def get_sheet_by_index(self, index):
            return Sheet()

    import python_calamine

    monkeypatch.setattr(python_calamine.CalamineWorkbook, "from_filelike",
                        staticmethod(lambda raw: Book()))
    with pytest.raises(ImportFileError) as caught:
        importing._read_xlsx(b"PK")
    assert caught.value.code == FILE_XLSX_DAMAGED


@pytest.mark.parametrize("name", ["registered_on", "due_date"])
def test_each_date_column_reads_dates_and_names_itself_in_its_problem(name):
    check = importing._date_check(name)
    state = importing._FileState(ExistingData(), TODAY, (), {}, {})
    good = importing._Row(5, {})
    check(good, state, "01.02.24")
    assert good.values == {name: date(2024, 2, 1)} and good.problems == []
    bad = importing._Row(6, {})
    check(bad, state, "31.02.2024")
    assert bad.problems == [ImportProblem(BAD_DATE, 6, {"field": name, "value": "31.02.2024"})]
    assert name in check.__doc__


def test_the_validators_made_at_import_time_are_the_date_checks():
    state = importing._FileState(ExistingData(), TODAY, (), {}, {})
    for name in ("registered_on", "due_date"):
        checked = importing._Row(2, {})
        importing.VALIDATORS[name](checked, state, "1.2.24")
        assert checked.values == {name: date(2024, 2, 1)}


def test_plan_file_reads_two_digit_years_around_today():
    raw = ("\r\n".join(",".join(r) for r in (
        SHORT_HEADER, row("1", registered="01.02.24")))).encode()
    plan = plan_file(raw, "a.csv", ExistingData(categories=dict(CATEGORIES)), TODAY)
    assert plan.ok and plan.new[0].registered_on == date(2024, 2, 1)


def test_letter_scores_of_a_single_byte_codec():
    scores = importing._byte_scores("cp1251")
    assert set(scores) == set(range(0x80, 0x100)) - {0x98}  # 0x98 is undefined in cp1251
    frequency = importing._RU_FREQ["о"] / 1000
    assert scores[0xEE] == scores[0xCE] == math.log(frequency)  # «о» and «О»
    assert scores[0xAB] == importing._PUNCT_SCORE  # «
    assert scores[0x90] == importing._ODD_CHAR_SCORE  # ђ
    assert importing._byte_scores("cp1251") == importing._BYTE_SCORES["cp1251"]


# --- decoding and delimiters -------------------------------------------------------------------


def test_chardet_hint_names_a_candidate_with_its_confidence():
    encoding, confidence = importing._chardet_hint(
        ("Привет мир, это проверка кодировки " * 10).encode("cp1251"))
    assert encoding == "cp1251" and 0.5 < confidence <= 1.0
    assert importing._chardet_hint(b"") == (None, 0.0)
    assert importing._chardet_hint(b"plain ascii")[0] is None


@pytest.mark.parametrize("encoding", ["utf-32-le", "utf-32-be", "utf-16-le", "utf-16-be"])
def test_utf16_and_utf32_with_a_bom(encoding):
    raw = ("\ufeffАйди,Название\r\n1,Касса").encode(encoding)
    assert importing.decode_bytes(raw) == "Айди,Название\r\n1,Касса"


def test_stray_bom_and_dos_end_mark_are_dropped():
    assert importing.decode_bytes(codecs.BOM_UTF8 * 2 + b"a,b\r\n1,2\x1a") == "a,b\r\n1,2"


def test_a_nul_in_text_decoded_through_a_bom_is_binary():
    raw = ("\ufeff" + "Айди,Название\r\n" * 20 + "1,\x00").encode("utf-16-le")
    with pytest.raises(ImportFileError) as caught:
        importing.decode_bytes(raw)
    assert caught.value.code == importing.FILE_BINARY


def test_control_characters_up_to_one_percent_are_tolerated():
    assert importing.decode_bytes(b"a" * 99 + b"\x01") == "a" * 99 + "\x01"
    with pytest.raises(ImportFileError):
        importing.decode_bytes(b"a" * 98 + b"\x01\x01")


def test_quoted_line_break_is_kept_as_written():
    assert read_table(b'a,b\r\n1,"x\r\ny"\r\n', "a.csv") == [["a", "b"], ["1", "x\r\ny"]]


@pytest.mark.parametrize(("text", "delimiter"), [
    ("a;b\r\n", ";"),  # one of each would tie with ","
    ("a\tb", "\t"),
    ("abc", ","),  # nothing to count: ","
    ("a;b;c,d", ";"),
    ("X;Y;Z", ";"),
    ('"x,y,z";a;b\r\n', ";"),  # inside quotes does not count
    ("\r\n\r\nA;B;C\r\n1,2,3,4,5", ";"),  # blank lines before the header are skipped
    ("Айди\r\n1;2;3", ","),  # the header line ends the count
])
def test_sniff_delimiter(text, delimiter):
    assert importing.sniff_delimiter(text) == delimiter


# --- file names and formulas -------------------------------------------------------------------


def test_the_extension_is_what_follows_the_last_dot():
    raw = "\r\n".join(",".join(r) for r in (SHORT_HEADER, row("1"))).encode()
    assert len(read_table(raw, "Список.v2.CSV")) == 2
    for name, extension in (("devices", ""), ("devices.csv.pdf", ".pdf"), ("", "")):
        with pytest.raises(ImportFileError) as caught:
            read_table(raw, name)
        assert (caught.value.code, caught.value.params) == (importing.FILE_EXTENSION,
                                                            {"extension": extension})


def test_a_workbook_named_csv_is_told_as_such():
    with pytest.raises(ImportFileError) as caught:
        read_table(xlsx_bytes([SHORT_HEADER, row("1")]), "devices.csv")
    assert caught.value.code == importing.FILE_LOOKS_XLSX


@pytest.mark.parametrize(("text", "safe"), [
    ("X=1", "X=1"), ("=1", "'=1"), ("'=1", "''=1"), ("-5", "'-5"), ("Касса", "Касса"),
])
def test_neutralize_cell_prefixes_formulas_only(text, safe):
    assert importing.neutralize_cell(text) == safe
    assert importing.restore_cell(safe) == text


# --- row rules at their boundaries -------------------------------------------------------------


def plan_of(*data_rows):
    """build_plan of SHORT_HEADER and these rows."""
    return importing.build_plan([SHORT_HEADER, *data_rows],
                                ExistingData(categories=dict(CATEGORIES)), TODAY)


def test_row_rules_at_their_boundaries():
    biggest = str(importing.MAX_NUMBER)
    assert [d.number for d in plan_of(row(biggest), row("1 234"), row("5\u00a0678")).new] == [
        importing.MAX_NUMBER, 1234, 5678]
    local = "a" * (254 - len("@company.ru"))
    plan = plan_of(row("1", email=f"mailto:{local}@company.ru"),
                   row("2", email=f"{local}x@company.ru"))
    assert plan.new[0].email == f"{local}@company.ru"
    assert [(p.code, p.row) for p in plan.errors] == [(importing.BAD_EMAIL, 3)]
    plan = plan_of(row("1", name="x" * 201), row("2", place="склад"), row("3", place="офис"))
    assert [(p.code, p.params) for p in plan.errors] == [
        (importing.TOO_LONG, {"field": "name", "limit": 200})]
    assert [(w.code, w.params) for w in plan.warnings] == [
        (importing.PLACE_WITHOUT_HOLDER, {"count": 2})]


def test_no_header_and_file_level_details():
    assert [(p.code, p.row) for p in importing.build_plan([], ExistingData(), TODAY).errors] == [
        (importing.NO_HEADER, 1)]
    with pytest.raises(ImportFileError) as caught:
        importing.decode_bytes(codecs.BOM_UTF16_LE + b"a")
    assert (caught.value.code, caught.value.params) == (importing.FILE_BAD_BOM,
                                                        {"encoding": "UTF-16"})


# --- texts at their edges ----------------------------------------------------------------------


def test_a_bom_inside_a_header_cell_is_ignored():
    columns, unknown, repeated = importing.map_header(["\ufeffАйди", "Назв\ufeffание", "X"])
    assert (columns, unknown, repeated) == ({"number": 0, "name": 1}, ["X"], [])


def test_decoding_keeps_an_x_at_either_end_of_the_text():
    assert importing.decode_bytes(b"XYZ,a\r\n1,X") == "XYZ,a\r\n1,X"
    assert importing.decode_bytes(codecs.BOM_UTF8 + b"X,Y\r\n1,X\x1a") == "X,Y\r\n1,X"


def test_restore_cell_keeps_a_quote_before_anything_but_a_formula_character():
    for text in ("'X=1", "'X-1", "X'=1"):
        assert importing.restore_cell(text) == text


def test_an_exact_category_name_wins_over_one_that_only_folds_the_same():
    data = ExistingData(categories={"ёлка": "Ёлка", "елка": "Елка"})
    plan = importing.build_plan([SHORT_HEADER, row("1", category="ёлка"),
                                 row("2", category="  ЁЛКА "), row("3", category="Елка")],
                                data, TODAY)
    assert [d.category for d in plan.new] == ["Ёлка", "Ёлка", "Елка"]


@pytest.mark.parametrize(("text", "delimiter"), [
    ("a,b;c", ","),  # a tie goes to ","
    ("Модель;Тип;FOX,a,b,c,d", ","),  # an «X» is an ordinary letter
])
def test_sniff_delimiter_ties_and_letters(text, delimiter):
    assert importing.sniff_delimiter(text) == delimiter


def test_a_cell_beyond_the_csv_field_limit_names_its_row():
    raw = ("Айди,Название\r\n1,Касса\r\n2," + "x" * 140_000 + "\r\n").encode()
    with pytest.raises(ImportFileError) as caught:
        read_table(raw, "a.csv")
    assert (caught.value.code, caught.value.params) == (importing.FILE_QUOTE_NEAR, {"row": 3})


def test_no_rows_names_the_header_row():
    plan = importing.build_plan([[""], SHORT_HEADER, ["", " "]], ExistingData(), TODAY)
    assert plan.errors == [ImportProblem(importing.NO_ROWS, 2, {})]


def test_byte_0x80_counts_in_the_codec_guess():
    # 0x80 is «А» in cp866 and a box or odd character in the other two.
    assert importing.decode_bytes("ААААА;АААА".encode("cp866")) == "ААААА;АААА"


def test_a_header_line_of_delimiters_only_ends_the_count():
    assert importing.sniff_delimiter(";;\r\na,b,c,d") == ";"


def test_a_nul_without_a_bom_is_binary_in_utf8_and_in_a_single_byte_codec():
    for raw in (b"a,b\r\n1,\x00", "Айди,Название\r\n1,\x00".encode("cp1251")):
        with pytest.raises(ImportFileError) as caught:
            importing.decode_bytes(raw)
        assert caught.value.code == importing.FILE_BINARY
