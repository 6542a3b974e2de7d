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
