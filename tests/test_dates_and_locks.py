"""Typed dates at their edges and the device lock's refusal, in detail."""

from __future__ import annotations

from datetime import date

import pytest

from inventory.dates import parse_date, parse_future_date
from inventory.errors import InvalidDate, NotFound
from inventory.locks import lock_device
from models import db

TODAY = date(2026, 11, 26)


@pytest.mark.parametrize("text", ["завтра", "31.02.2026", "2026-13-01"])
def test_an_invalid_date_names_what_was_typed(text):
    with pytest.raises(InvalidDate) as err:
        parse_date(text, TODAY)
    assert err.value.details["text"] == text


def test_today_without_a_year_is_today_not_next_year():
    assert parse_date("26.11", TODAY) == TODAY
    assert parse_date("25.11", TODAY) == date(2027, 11, 25)
    assert parse_future_date("26.11.2026", TODAY) == TODAY


def test_a_missing_device_cannot_be_locked(backend, seed):
    device = seed.device(1)
    with db.atomic(), pytest.raises(NotFound) as err:
        lock_device(device.id + 1)
    assert err.value.details["device_id"] == device.id + 1
    with db.atomic():
        assert lock_device(device.id).number == 1
