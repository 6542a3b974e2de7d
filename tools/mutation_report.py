"""Mutation score per module and the surviving mutants, from mutmut's results in mutants/.

Run after `mutmut run` (the `make mutation` target does both). A mutant counts as caught when a
test failed (killed) or hung (timeout); every other verdict counts against the score, so a
mutant no test reaches ("no tests") is a survivor too. Exits 1 when a module is below --min.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

CAUGHT = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout",
          152: "timeout", 255: "timeout", 37: "caught by type check"}
VERDICT = {0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", None: "not checked"}


def module_of(meta: Path, root: Path) -> str:
    """inventory/loans.py for mutants/inventory/loans.py.meta."""
    return str(meta.relative_to(root).with_suffix(""))


def load(root: Path) -> dict[str, dict[str, int | None]]:
    """Exit code per mutant name, per module with any mutant."""
    found = {}
    for meta in sorted(root.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if codes:
            found[module_of(meta, root)] = codes
    return found


_HEADING = re.compile(r"^#+ .*?`?((?:inventory|jobs)/\w+)\.py")
# x_take__mutmut_48, xǁClassǁmethod__mutmut_3, a bare _49 (same function as the name before it),
# a range `x_f__mutmut_13`–`_15`, and x_f__* for every mutant of a function.
_TOKEN = re.compile(r"(?P<func>x[\wǁ]+?)__(?:mutmut_(?P<n>\d+)|(?P<all>\*))"
                    r"|(?<![\w])_(?P<m>\d+)\b|(?P<dash>–|-)")


def _survivors_section(text: str) -> list[str]:
    """The lines of the "## Surviving mutants" section (a page without one is all survivors)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("## Surviving mutants")),
                 -1)
    if start < 0:
        return lines
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
               len(lines))
    return lines[start + 1:end]


def documented(text: str) -> tuple[set[str], set[str]]:
    """Mutant names, and functions with every mutant, that a survivors page explains.

    Only the section headed "## Surviving mutants" counts (the rest of the page names mutants
    that tests kill); a heading naming `inventory/x.py` sets the module for the lines under it.
    """
    names: set[str] = set()
    whole: set[str] = set()
    module = ""
    for line in _survivors_section(text):
        heading = _HEADING.match(line)
        if heading:
            module = heading.group(1).replace("/", ".")
            continue
        if not module:
            continue
        func, last, dash = "", None, False
        for token in _TOKEN.finditer(line):
            if token.group("dash"):
                dash = last is not None and line[last[1]:token.start()].strip("` ") == ""
                continue
            if token.group("func"):
                func = token.group("func")
                if token.group("all"):
                    whole.add(f"{module}.{func}")
                    last, dash = None, False
                    continue
            if not func:
                continue
            number = int(token.group("n") or token.group("m"))
            first = last[0] + 1 if dash and last is not None and last[0] < number else number
            names.update(f"{module}.{func}__mutmut_{k}" for k in range(first, number + 1))
            last, dash = (number, token.end()), False
    return names, whole


def undocumented(survivors: list[str], *pages: str) -> list[str]:
    """The survivors that none of the pages names."""
    names: set[str] = set()
    whole: set[str] = set()
    for page in pages:
        found, functions = documented(page)
        names |= found
        whole |= functions
    return [name for name in survivors
            if name not in names and name.rsplit("__mutmut_", 1)[0] not in whole]


def diff_of(name: str) -> str:
    """The changed lines of one mutant (mutmut's own diff), or '' when mutmut cannot tell."""
    try:
        from mutmut.mutation.diff_apply import get_diff_for_mutant
    except ImportError:  # pragma: no cover - another mutmut layout
        return ""
    try:
        diff = get_diff_for_mutant(name)
    except Exception as err:  # noqa: BLE001 - a report line is better than no report
        return f"    (no diff: {err})"
    lines = [line for line in diff.splitlines()
             if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    return "\n".join("    " + line for line in lines)


def main(argv: list[str] | None = None) -> int:
    """Print the table and the survivors; the exit status says whether every module passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min", type=float, default=92.0, help="least score per module, %%")
    parser.add_argument("--only", nargs="*", default=[], help="modules to report (default all)")
    parser.add_argument("--no-diff", action="store_true", help="list survivors without diffs")
    parser.add_argument("--doc", type=Path, nargs="*", default=[],
                        help="pages that together must explain every survivor")
    args = parser.parse_args(argv)
    root = Path("mutants")
    if not root.is_dir():
        print("no mutants/ here: run `make mutation` first", file=sys.stderr)
        return 2
    results = load(root)
    if args.only:
        results = {m: c for m, c in results.items() if m in args.only}
    sys.path.insert(0, str(Path.cwd()))
    failing = []
    survivors: list[tuple[str, str]] = []
    print(f"{'module':36} {'mutants':>8} {'caught':>8} {'checked':>8} {'score':>7}")
    for module, codes in results.items():
        checked = {k: c for k, c in codes.items() if c is not None and c != 34}
        if not checked:
            continue
        caught = sum(1 for c in checked.values() if c in CAUGHT)
        score = 100.0 * caught / len(checked)
        if score < args.min:
            failing.append(module)
        print(f"{module:36} {len(codes):8} {caught:8} {len(checked):8} {score:6.1f}%")
        survivors += [(name, VERDICT.get(c, "suspicious")) for name, c in checked.items()
                      if c not in CAUGHT]
    if survivors:
        print(f"\nsurviving mutants ({len(survivors)}):")
        for name, verdict in survivors:
            print(f"  {name}  [{verdict}]")
            if not args.no_diff:
                text = diff_of(name)
                if text:
                    print(text)
    status = 0
    if args.doc:
        missing = undocumented([name for name, _ in survivors],
                               *(page.read_text(encoding="utf-8") for page in args.doc))
        where = ", ".join(map(str, args.doc))
        if missing:
            print(f"\nnot explained in {where} ({len(missing)}):")
            print("\n".join(f"  {name}" for name in missing))
            status = 1
        else:
            print(f"\nevery survivor is explained in {where}")
    if failing:
        print(f"\nbelow {args.min}%: {', '.join(failing)}")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
