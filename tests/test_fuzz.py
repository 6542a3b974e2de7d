"""Malformed input (hypothesis): random texts, buttons and files never end in a traceback."""

from __future__ import annotations

from datetime import date

import pytest
from conftest import ADMIN_ID, USER_ID
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from handlers import texts
from handlers.import_problems import file_error_text, problem_text
from inventory import importing
from inventory.importing import ExistingData, ImportFileError

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
PREFIXES = ["card", "take", "tkp", "tkd", "ret", "reto", "due", "cdd", "place", "all", "cat",
            "cats", "sq", "noop", "dlg", "qj", "ql", "hdx", "wl", "ho", "hoa", "hod", "hoc", "hop",
            "ext", "edit", "hist", "asg", "del", "dev", "imp", "zzz", ""]


@pytest.fixture
def world(seed, harness):
    """A registered user and an admin, a few devices, one held."""
    user = seed.person(USER_ID, username="ivan")
    admin = seed.person(ADMIN_ID, "admin@company.ru", name="Админ")
    for number in (1, 2, 49):
        seed.device(number, f"Эвотор {number}")
    seed.loan(seed.device(50, "Атол"), user)
    return user, admin


def no_failure(sender) -> None:
    """Nothing went wrong: no error text, no error alert (the recorder enforces Telegram rules)."""
    assert texts.ERROR not in sender.texts()
    assert texts.ERROR_SHORT not in sender.alerts()


@FUZZ
@given(text=st.text(min_size=1, max_size=300))
@example(text="¹")  # a digit to str.isdigit(), not to int(): the number search crashed on it
def test_any_text_from_a_user_or_an_admin(harness, world, text):
    for user_id in (USER_ID, ADMIN_ID):
        harness.send(user_id, text)
    no_failure(harness.sender)


@FUZZ
@given(prefix=st.sampled_from(PREFIXES),
       args=st.lists(st.one_of(st.integers(-5, 10**12).map(str), st.text(max_size=12)),
                     max_size=4))
def test_any_button_data(harness, world, prefix, args):
    data = ":".join([prefix, *args])[:64]
    for user_id in (USER_ID, ADMIN_ID):
        harness.press(user_id, data)
    no_failure(harness.sender)


@FUZZ
@given(raw=st.binary(max_size=2000), extension=st.sampled_from([".csv", ".txt", ".xlsx", ".pdf"]))
def test_any_file_gives_a_plan_or_a_clear_refusal(raw, extension):
    try:
        rows = importing.read_table(raw, "file" + extension)
    except ImportFileError as err:
        assert file_error_text(err)
        return
    plan = importing.build_plan(rows, ExistingData(), date(2026, 12, 1))
    assert all(problem_text(error).startswith("Строка ") for error in plan.errors)
