"""No function is above cyclomatic complexity 15 (radon): the domain layer (inventory/), the
Telegram layer, notices/, outbox/, the jobs, the entry points and the playground (`make run`)."""

from __future__ import annotations

from pathlib import Path

from radon.complexity import cc_visit

REPO = Path(__file__).resolve().parent.parent
LIMIT = 15


APPLICATION = ["handlers", "jobs", "notices", "outbox", "playground", "bot.py", "dispatch.py",
               "config.py", "cli.py", "models.py", "schema.py", "sqlite_db.py", "logformat.py",
               "metrics.py"]


def complex_functions(folder: Path) -> list[str]:
    """`path:line name (score)` of every function or method above LIMIT under folder (or file)."""
    found = []
    for path in sorted(folder.rglob("*.py")) if folder.is_dir() else [folder]:
        for block in cc_visit(path.read_text(encoding="utf-8")):
            if block.complexity > LIMIT:
                found.append(f"{path.relative_to(REPO)}:{block.lineno} {block.name} "
                             f"({block.complexity})")
    return found


def test_no_inventory_function_is_above_the_limit():
    assert complex_functions(REPO / "inventory") == []


def test_no_function_of_the_rest_of_the_application_is_above_the_limit():
    assert [found for name in APPLICATION for found in complex_functions(REPO / name)] == []


def test_the_check_sees_a_complex_function(tmp_path):
    branches = "\n".join(f"    if x == {n}:\n        return {n}" for n in range(LIMIT + 1))
    (tmp_path / "m.py").write_text(f"def f(x):\n{branches}\n    return -1\n", encoding="utf-8")
    global REPO
    saved, REPO = REPO, tmp_path
    try:
        assert complex_functions(tmp_path) == [f"m.py:1 f ({LIMIT + 2})"]
    finally:
        REPO = saved
