"""Search treats LIKE's wildcards and the escape character as plain text, on both databases."""

from __future__ import annotations

import pytest

from inventory import devices


@pytest.mark.parametrize(("query", "expected"), [
    ("a_b", [1]),  # «_» is not «any one character»: AxB stays out
    ("50%", [3]),  # «%» is not «anything»: 500 stays out
    ("c\\d", [5]),  # the escape character itself
    ("b", [1, 2]),
])
def test_wildcards_in_a_search_are_plain_text(backend, seed, clock, query, expected):
    for number, name in [(1, "A_B"), (2, "AxB"), (3, "Скидка 50%"), (4, "Весы 500"),
                         (5, "C\\D"), (6, "CxD")]:
        seed.device(number, name, serial=f"SN-{number}")
    found = devices.search(query, 1, clock.now)
    assert sorted(r.device.number for r in found.rows) == expected
