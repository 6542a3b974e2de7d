"""The label benchmark runs (tiny sizes) through `python -m bench`."""

from __future__ import annotations

from bench.__main__ import main


def test_bench_labels_smoke(capsys):
    assert main(["--small", "--section", "labels", "--backend", "sqlite"]) == 0
    out = capsys.readouterr().out
    assert "select 200 devices" in out and "render 200 labels (A4 3x8)" in out
