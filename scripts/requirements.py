"""Print the project's requirements from pyproject.toml, one per line: its dependencies and those of the
extras named on the command line. The Makefile installs them while the package itself builds (mypyc)."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def requirements(extras: list[str]) -> list[str]:
    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise SystemExit(f"requirements.py: no extra {unknown[0]!r} in pyproject.toml (known: {', '.join(optional)})")
    return [*project["dependencies"], *(r for e in extras for r in optional[e])]


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1:])))
