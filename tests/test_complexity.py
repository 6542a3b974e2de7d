"""No function above cyclomatic complexity 15 (radon) in the Telegram layer, the jobs and the
entry points; a longer one gets split into named steps."""

from __future__ import annotations

from pathlib import Path

import pytest
from radon.complexity import cc_visit

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 15
CHECKED = ["handlers", "jobs", "notices", "outbox", "bot.py", "dispatch.py", "config.py",
           "cli.py"]


def sources() -> list[Path]:
    """Every module under the checked paths."""
    found: list[Path] = []
    for name in CHECKED:
        path = ROOT / name
        found.extend(sorted(path.glob("*.py")) if path.is_dir() else [path])
    return found


def too_complex(source: str) -> list[str]:
    """Functions and methods of a source above LIMIT, as 'name (complexity)'."""
    return [f"{block.fullname} ({block.complexity})" for block in cc_visit(source)
            if block.complexity > LIMIT]


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_function_above_the_limit(path):
    assert too_complex(path.read_text(encoding="utf-8")) == []


def test_the_check_flags_a_complex_function():
    branches = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(LIMIT))
    assert too_complex(f"def f(x):\n{branches}    return -1\n") == [f"f ({LIMIT + 1})"]
