"""The switch-over import benchmark runs (tiny sizes) through `python -m bench`."""

from __future__ import annotations

import pytest
from conftest import PG_URL

from bench.__main__ import main

pytestmark = pytest.mark.postgres


def test_bench_legacy_smoke(capsys, monkeypatch):
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set: the predecessor database needs PostgreSQL")
    monkeypatch.delenv("BENCH_DATABASE_URL", raising=False)
    assert main(["--small", "--section", "legacy", "--backend", "sqlite"]) == 0
    out = capsys.readouterr().out
    for name in ("dry run 50 dev / 500 rec", "apply 50 dev / 500 rec", "second apply"):
        assert name in out
