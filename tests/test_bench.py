"""The benchmarks run (tiny sizes only: timings are measured by `make bench`, not asserted)."""

from __future__ import annotations

import bench.__main__ as bench_main


def test_handler_benchmark_smoke(capsys, monkeypatch):
    monkeypatch.delenv("BENCH_DATABASE_URL", raising=False)
    assert bench_main.main(["--small", "--section", "handlers", "--backend", "sqlite"]) == 0
    out = capsys.readouterr().out
    for name in ("/all page 1", "/all middle page", "search hit", "card", "take (last step)",
                 "return (confirm)"):
        assert name in out


def test_burst_benchmark_smoke(capsys, monkeypatch):
    monkeypatch.delenv("BENCH_DATABASE_URL", raising=False)
    assert bench_main.main(["--small", "--section", "burst", "--backend", "sqlite"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if line.startswith("burst")]) == 3
    turns = next(line for line in lines if "immediate+turns" in line)
    # The bot's mode: nobody told that something went wrong, with the fairness target set.
    assert "errors 0" in turns and "p95/median" in turns
    assert "deferred (before)" in "\n".join(lines)
