"""The import benchmark runs (tiny sizes) through `python -m bench`."""

from __future__ import annotations

from bench import importing
from bench.__main__ import main


def test_bench_importing_smoke(capsys):
    assert main(["--small", "--section", "importing", "--backend", "sqlite"]) == 0
    out = capsys.readouterr().out
    assert "importing" in out and "50 new rows (csv)" in out and "50 updated rows (csv)" in out


def test_bench_file_is_valid_for_the_importer():
    from inventory.importing import ExistingData, build_plan, read_table

    categories = {name.lower(): name for name in importing.CATEGORIES}
    plan = build_plan(read_table(importing.csv_bytes(importing.rows(30)), "d.csv"),
                      ExistingData(categories=categories), importing.TODAY)
    assert plan.ok and len(plan.new) == 30 and len(plan.loans) == 10
