"""Publish a full bench run: its report into docs/, its tables into the README.

    make bench && python scripts/publish_bench.py            # from bench-results/
    python scripts/publish_bench.py --check                  # README agrees with docs/validation.md?

The README's Benchmarks section shows the latest full run: its header line (when, where), then the
targets table, the before/after table and the NautilusTrader table, in that order. They are copied
there from the report the run wrote, never typed, and `--check` (run by the tests) fails when the
README shows other figures than docs/validation.md.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
REPORT = REPO / "docs" / "validation.md"
RUN_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC, (full|quick) run, .*$", re.MULTILINE)
TABLES = (  # the report's sections whose first table the README shows, in the order the README shows them
    "## Targets",
    "## What each optimisation buys (same run)",
    "## Side by side with NautilusTrader (same run, same work)",
)


def table_at(text: str, start: int) -> str:
    """The Markdown table whose first line starts at `start`."""
    lines = []
    for line in text[start:].splitlines():
        if not line.startswith("|"):
            break
        lines.append(line)
    return "\n".join(lines)


def next_table(text: str, start: int) -> int:
    """Where the first table at or after `start` begins, or -1."""
    at = text.find("\n|", start)
    return at if at < 0 else at + 1


def published(report: str, readme: str) -> str:
    """The README with the report's run line in place of its own, and the tables after it replaced, one
    by one, by the first table of each of the report's sections in TABLES (found by place, not by their
    header rows: a run that reports in a new format replaces the tables of the old one)."""
    run_line = RUN_LINE.search(report)
    if run_line is None or "full run" not in run_line.group(0):
        raise SystemExit("the report is not from a full run (`make bench`): not published")
    readme_run = RUN_LINE.search(readme)
    if readme_run is None:
        raise SystemExit("README.md has no run line to replace")
    readme = readme[: readme_run.start()] + run_line.group(0) + readme[readme_run.end() :]
    at = readme_run.start() + len(run_line.group(0))
    for title in TABLES:
        section = report.find(f"{title}\n")
        start = -1 if section < 0 else next_table(report, section)
        if start < 0:
            raise SystemExit(f"the report has no table under {title!r}")
        new = table_at(report, start)
        at = next_table(readme, at)
        if at < 0:
            raise SystemExit(f"README.md has no table after its run line for {title!r}")
        readme = readme[:at] + new + readme[at + len(table_at(readme, at)) :]
        at += len(new)
    return readme


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path, default=REPO / "bench-results", help="what `make bench` wrote")
    parser.add_argument("--check", action="store_true", help="only check that README.md shows docs/validation.md")
    args = parser.parse_args()
    readme = README.read_text(encoding="utf-8")
    if args.check:
        if published(REPORT.read_text(encoding="utf-8"), readme) != readme:
            print("README.md's benchmark tables differ from docs/validation.md: run scripts/publish_bench.py")
            return 1
        return 0
    new_readme = published((args.results / "validation.md").read_text(encoding="utf-8"), readme)  # checks first
    for name in ("validation.md", "validation.json"):
        shutil.copyfile(args.results / name, REPO / "docs" / name)
    README.write_text(new_readme, encoding="utf-8")
    print(f"published {args.results}/validation.md: docs/validation.md, docs/validation.json, README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
