"""The mutation report's check that docs/mutation.md explains every surviving mutant."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from mutation_report import documented, undocumented  # noqa: E402

PAGE = """# Mutation testing

## Survivors of the named bugs
- `x_change__mutmut_1` is killed by a test, so it is no explanation.

## Surviving mutants and why they cannot change behaviour

### `inventory/queue.py`

- `x_queue_of__mutmut_3`, `_5`, `x__settle__mutmut_4`: ties come in id order.
- `x_position__mutmut_13`–`_15` (alias renamed): only a name in the SQL.
- `x_pending__*` (lazy loads): the same objects.

### `jobs/reminders.py` (scores)

- `xǁSenderǁsend__mutmut_2` - `_4`: the same text.

## Time of a full run
- `x_later__mutmut_1` is past the section.
"""


def test_names_short_numbers_and_ranges_are_read_per_module() -> None:
    """Bare `_5` belongs to the function before it; `_13`–`_15` is a range; `__*` a function."""
    names, whole = documented(PAGE)
    assert names == {
        "inventory.queue.x_queue_of__mutmut_3", "inventory.queue.x_queue_of__mutmut_5",
        "inventory.queue.x__settle__mutmut_4",
        "inventory.queue.x_position__mutmut_13", "inventory.queue.x_position__mutmut_14",
        "inventory.queue.x_position__mutmut_15",
        "jobs.reminders.xǁSenderǁsend__mutmut_2", "jobs.reminders.xǁSenderǁsend__mutmut_3",
        "jobs.reminders.xǁSenderǁsend__mutmut_4",
    }
    assert whole == {"inventory.queue.x_pending"}


def test_a_survivor_the_page_does_not_name_is_reported() -> None:
    """Only the names outside the survivors section, or never written, come back."""
    survivors = ["inventory.queue.x_queue_of__mutmut_5", "inventory.queue.x_pending__mutmut_9",
                 "inventory.queue.x_queue_of__mutmut_4", "inventory.loans.x_change__mutmut_1",
                 "inventory.queue.x_later__mutmut_1", "inventory.loans.x_queue_of__mutmut_3"]
    assert undocumented(survivors, PAGE) == [
        "inventory.queue.x_queue_of__mutmut_4", "inventory.loans.x_change__mutmut_1",
        "inventory.queue.x_later__mutmut_1", "inventory.loans.x_queue_of__mutmut_3"]


def test_a_page_without_a_survivors_section_counts_whole() -> None:
    """A page without a survivors section is read whole, under its module headings."""
    own = "# Core\n\n## Scores\n\n### inventory/dates.py\n\n- `x__next__mutmut_7`: same year.\n"
    assert undocumented(["inventory.dates.x__next__mutmut_7", "inventory.dates.x__next__mutmut_8"],
                        PAGE, own) == ["inventory.dates.x__next__mutmut_8"]


def test_mutmut_copies_every_top_level_module() -> None:
    """A module mutmut does not copy is missing from its tree: every mutant's tests would fail
    to import it and the mutant would count as caught."""
    import configparser

    root = Path(__file__).resolve().parent.parent
    config = configparser.ConfigParser()
    config.read(root / "setup.cfg")
    copied = set(config["mutmut"]["also_copy"].split())
    modules = {path.name for path in root.glob("*.py")}
    assert modules - copied == set()
