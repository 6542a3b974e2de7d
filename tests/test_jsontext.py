"""JSON text as devtrack stores it: one encoder for audit and dialogues, a strict one for dumps."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

import pytest

from inventory import jsontext

VALUES = {"due": date(2026, 12, 24), "at": datetime(2026, 12, 3, 9, 5, 7),
          "changes": [[date(2026, 1, 2), None], ["Эвотор", "Атол"]], "n": 7}
ISO = {"due": "2026-12-24", "at": "2026-12-03T09:05:07",
       "changes": [["2026-01-02", None], ["Эвотор", "Атол"]], "n": 7}


def test_dates_are_written_in_iso_form_at_any_depth_and_cyrillic_as_it_is():
    text = jsontext.dumps(VALUES)
    assert json.loads(text) == ISO
    assert "Эвотор" in text and "\n" not in text  # readable, one line
    assert json.loads(jsontext.dump_file(VALUES)) == ISO
    assert "\n" in jsontext.dump_file(VALUES) and "Атол" in jsontext.dump_file(VALUES)


def test_stored_text_takes_any_other_value_as_its_text_but_a_dump_refuses_it():
    assert json.loads(jsontext.dumps({"amount": Decimal("1.50")})) == {"amount": "1.50"}
    with pytest.raises(TypeError, match="Decimal"):
        jsontext.dump_file({"amount": Decimal("1.50")})
