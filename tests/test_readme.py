"""README commands: each is run here, by another named test or CI, or marked as needing more."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

# Command prefixes and what runs them besides this file.
COVERED = {
    "make run": "tests/test_playground.py (no token: the playground opens)",
    ".venv/bin/python -m playground": "tests/test_playground*.py",
    "make test": ".ci/run",
    "make lint": ".ci/run",
    "make typecheck": "mypy.ini (joins make lint and .ci/run at zero errors)",
    "make help": "this file",
    "make bench": "tests/test_bench*.py run the same entry point on tiny sizes",
    "make migration": "tests/test_migrations.py (model drift is empty)",
    "make lock": "tests/test_deploy.py (the locks agree with requirements*.txt)",
    "make fuzz": "tests/test_fuzz.py, which make test runs derandomized",
    "make mutation": "by hand (minutes to tens of minutes); docs/mutation.md has its results",
    "cp .env.example .env": "tests/test_config.py (every variable documented)",
    ".venv/bin/python -m schema": "this file and tests/test_migrations.py",
    ".venv/bin/python -m jobs.reminders": "this file and tests/test_reminders.py",
    ".venv/bin/python -m jobs.healthcheck": "tests/test_deploy.py (heartbeat)",
    ".venv/bin/python -m jobs.restore": "tests/test_backup.py (restore CLI)",
    ".venv/bin/python -m jobs.import_legacy": "tests/test_legacy_import.py (CLI)",
    "DATABASE_URL=": "tests/test_backup.py (jobs.restore CLI)",
    "git pull && make run": "make run, above",
    "pg_dump": "standard PostgreSQL tool (marked as not run by the tests)",
}
MARKERS = ("needs Docker", "needs a real cluster")


def shell_lines() -> list[str]:
    """Every command line inside ```sh blocks of the README."""
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_every_readme_command_is_covered_or_marked():
    lines = shell_lines()
    assert len(lines) > 10
    for line in lines:
        if any(marker in line for marker in MARKERS):
            continue
        assert any(line.startswith(prefix) for prefix in COVERED), line
    inline = re.findall(r"`((?:make|\.venv/bin/python|python -m) [^`]+)`", README)
    for command in inline:
        command = command.replace("python -m", ".venv/bin/python -m", 1) \
            if command.startswith("python -m") else command
        assert any(command.startswith(prefix) for prefix in COVERED) or "bot.py" in command, \
            command


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The tracked files in a fresh folder, sharing this checkout's virtualenv."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in files:
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, target)
    venv = ROOT / ".venv"
    if not (venv / "bin" / "python").exists():
        pytest.skip("no .venv in this checkout")
    (tmp_path / ".venv").symlink_to(venv)
    return tmp_path


def run(clone: Path, command: str) -> subprocess.CompletedProcess:
    """Run a README command line in the clone with no DATABASE_URL or token set."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "BOT_", "TEST_DATABASE", "BENCH_"))}
    return subprocess.run(command, shell=True, cwd=clone, env=env, capture_output=True,
                          text=True, timeout=120)


def test_local_commands_work_on_a_fresh_clone(clone):
    lines = shell_lines()
    upgrade = next(line for line in lines if "schema upgrade" in line).split("#")[0]
    dry_run = next(line for line in lines if "--dry-run" in line).split("#")[0]
    status = next(line for line in lines if "schema status" in line
                  and "kubectl" not in line).split("#")[0]
    rollback = next(line for line in lines if "rollback --yes" in line).split("#")[0]
    result = run(clone, upgrade)
    assert result.returncode == 0 and "001_initial" in result.stdout, result.stderr
    assert (clone / "data" / "devtrack.db").exists()
    result = run(clone, dry_run)
    assert result.returncode == 0, result.stderr
    assert "dry run: reminders 01.12.2026" in result.stdout
    assert "applied  001_initial" in run(clone, status).stdout
    result = run(clone, rollback)
    assert result.returncode == 0 and "rolled back" in result.stdout
    result = run(clone, "make help")
    assert result.returncode == 0
    for target in ("run", "test", "lint", "bench", "migration", "fuzz", "mutation"):
        assert f"make {target}" in result.stdout
