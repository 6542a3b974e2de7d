"""Unicode digits, U+0000 and numbers beyond 64 bits read as «not found», never as an error."""

from __future__ import annotations

import pytest
from conftest import ADMIN_ID, USER_ID

from handlers import texts

HUGE = "99999999999999999999"


@pytest.fixture
def world(seed):
    """A user and an admin, devices 1, 2, 3 and 49."""
    seed.person(USER_ID, username="ivan")
    seed.person(ADMIN_ID, "admin@company.ru", name="Админ")
    return {n: seed.device(n, f"Эвотор {n}", serial=f"ZN-{n:03d}") for n in (1, 2, 3, 49)}


def no_failure(sender) -> None:
    """No error text, no error alert."""
    assert texts.ERROR not in sender.texts()
    assert texts.ERROR_SHORT not in sender.alerts()


@pytest.mark.parametrize("query", ["²", "³", "①", "49³", "٣", "\x00", "49\x00", "a\x00b", HUGE,
                                   "№" + HUGE, "-" + HUGE])
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_odd_searches_read_as_not_found(harness, world, backend, query):
    for user_id in (USER_ID, ADMIN_ID):
        call = harness.send(user_id, query).last(user_id)
        no_failure(harness.sender)
        shown = texts.e(query.replace("\x00", "\ufffd"))
        assert call.text == texts.NOT_FOUND.format(query=shown), call.text


@pytest.mark.parametrize("payload", [HUGE, "²", "49\x00", "-1"])
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_odd_start_payloads_read_as_not_found(harness, world, backend, payload):
    call = harness.send(USER_ID, f"/start {payload}").last(USER_ID)
    no_failure(harness.sender)
    assert call.text == texts.NOT_FOUND.format(query=texts.e(payload.replace("\x00", "\ufffd")))


@pytest.mark.parametrize("data", [f"take:{HUGE}", f"card:{HUGE}", f"ret:{HUGE}", f"qj:{HUGE}",
                                  f"all:{HUGE}", f"cat:{HUGE}:1", f"cat:1:{HUGE}",
                                  f"sq:{HUGE}:эвотор", f"edit:{HUGE}", f"usr:{HUGE}",
                                  f"take:-{HUGE}", "take:\x00", "card:1\x00"])
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_forged_huge_button_numbers_read_as_not_found(harness, world, backend, data):
    for user_id in (USER_ID, ADMIN_ID):
        harness.sender.clear()
        harness.press(user_id, data)
        no_failure(harness.sender)
        assert harness.sender.calls, "the button got no answer"


def test_huge_device_button_says_device_not_found(harness, world):
    harness.press(USER_ID, f"take:{HUGE}")
    assert harness.sender.alerts()[-1] in (texts.DEVICE_GONE, texts.STALE_BUTTON)


def test_a_long_digit_serial_pages_as_typed(harness, world, seed):
    serial = "12345678901234567890123"
    for n in range(100, 100 + 10):
        seed.device(n, f"Весы {n}", serial=f"{serial}-{n}")
    call = harness.send(USER_ID, serial).last(USER_ID)
    assert call.text.startswith(texts.LIST_SEARCH.format(query=serial, total=10))
    call = harness.press(USER_ID, call.button(texts.BTN_NEXT)["callback_data"]).last(USER_ID)
    assert call.text.startswith(texts.LIST_SEARCH.format(query=serial, total=10))
    assert "<b>109</b>" in call.text


@pytest.mark.parametrize("typed", ["³", "4²", "①", "٣", HUGE])
def test_add_refuses_unicode_digits_as_a_number(harness, world, typed):
    harness.send(ADMIN_ID, "/add")
    call = harness.send(ADMIN_ID, typed).last(ADMIN_ID)
    no_failure(harness.sender)
    assert call.text.startswith(texts.ERR_NUMBER_FORMAT.split("«")[0])
    assert f"«{typed}»" in call.text


def test_date_rule():
    from datetime import date

    from inventory.dates import parse_future_date
    from inventory.errors import DateTooFar, InvalidDate

    today = date(2026, 11, 26)
    assert parse_future_date("29.02", today) == date(2028, 2, 29)
    assert parse_future_date("29.2", date(2027, 3, 1)) == date(2028, 2, 29)
    assert parse_future_date("1.12", today) == date(2026, 12, 1)
    assert parse_future_date("25.11", today) == date(2027, 11, 25)
    assert parse_future_date("26.11.2028", today) == date(2028, 11, 26)
    for far in ("01.01.9999", "27.11.2028", "2029-01-01"):  # and 29.02 from March 2028: 2032
        with pytest.raises(DateTooFar):
            parse_future_date(far, today)
    with pytest.raises(DateTooFar):
        parse_future_date("29.02", date(2028, 3, 1))
    for bad in ("²⁹.02", "٢٩.02", "30.02", "31.04.2027"):
        with pytest.raises(InvalidDate):
            parse_future_date(bad, today)


def test_import_refuses_unicode_digit_numbers():
    from datetime import date

    from inventory import importing

    rows = [["Айди", "Название", "Категория", "Артикул"],
            ["٣", "Весы", "Сканер", "S-1"], ["²", "Весы", "Сканер", "S-2"],
            ["4", "Весы", "Сканер", "S-3"]]
    existing = importing.ExistingData(categories={"сканер": "Сканер"})
    plan = importing.build_plan(rows, existing, date(2026, 12, 1))
    assert sorted(error.row for error in plan.errors) == [2, 3]


@pytest.mark.parametrize("count", ["³", "٣", HUGE])
def test_dev_log_with_odd_digits_shows_the_usage(harness, world, seed, count):
    from conftest import DEV_ID

    seed.person(DEV_ID, "dev@company.ru", name="Dev")
    call = harness.send(DEV_ID, f"/dev log {count}").last(DEV_ID)
    no_failure(harness.sender)
    assert call.text.startswith(texts.DEV_LOG_USAGE.split("{")[0])
