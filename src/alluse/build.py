"""Which modules run compiled, and the check that each one was compiled from the source beside it.

setup.py compiles the modules an order passes through with mypyc when the machine has a C compiler
(and `ALLUSE_PURE` is not 1), and records a digest of each source it compiled. An extension module
shadows its `.py` at import, so a source edited after the build would silently not run: importing
`alluse` refuses that (see `check_sources`). This module imports nothing of the package: setup.py
reads it before the package is installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec
from pathlib import Path
from types import ModuleType

PACKAGE_DIR = Path(__file__).resolve().parent
RECORD = "_compiled_sources.json"  # written by setup.py beside this file: {module: sha256 of its source}

# The engines an order passes through in OR-1 (submit, risk, journal, venue, events, fill, position).
# The domain objects (alluse.model), the metrics and the protocols stay interpreted: callers build
# them, and a compiled class would turn a badly typed field into a bare TypeError at construction
# instead of the InvalidInput that names it (and refuse duck-typed stand-ins).
COMPILED: tuple[str, ...] = (
    "clock",
    "bus",
    "instruments",
    "sqlite_files",
    "execution.events",
    "execution.fsm",
    "execution.oms",
    "execution.journal",
    "execution.intent_log",
    "execution.errors",
    "brokers.paper",
    "brokers.paper_link",
    "brokers.paper_store",
    "brokers.commissions",
    "risk.gate",
    "risk.checks",
    "risk.exposure",
    "risk.throttle",
    "risk.limits",
    "risk.denial",
    "risk.states",
    "risk.loss",
    "portfolio.ledger",
    "portfolio.quality",
    "marketdata.cache",
)


def source_path(module: str) -> Path:
    return PACKAGE_DIR.joinpath(*module.split(".")).with_suffix(".py")


def extension_files(package_dir: Path | None = None) -> list[Path]:
    """Every compiled module file in the package, whether or not COMPILED still names it."""
    root = package_dir or PACKAGE_DIR
    return sorted({p for suffix in EXTENSION_SUFFIXES for p in root.rglob(f"*{suffix}")})


def module_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE_DIR)
    return ".".join((*relative.parent.parts, relative.name.split(".", 1)[0]))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record_sources(target_dir: Path) -> None:
    """Called by setup.py after a successful compile, for each package directory it built into: the
    digests of the sources it compiled (this checkout's)."""
    record = {m: digest(source_path(m)) for m in COMPILED}
    (target_dir / RECORD).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def compiled_modules() -> list[str]:
    """The modules that run compiled in this process."""
    if any(isinstance(f, _SourcesFirst) for f in sys.meta_path):
        return []
    return [module_of(p) for p in extension_files()]


def stale_modules() -> list[str]:
    """Compiled modules whose source is not the one they were compiled from, or with no record of it
    (one left from an earlier build that compiled more)."""
    compiled = [module_of(p) for p in extension_files()]
    if not compiled:
        return []
    try:
        record = json.loads((PACKAGE_DIR / RECORD).read_text())
    except (OSError, ValueError):
        return compiled
    return [m for m in compiled if record.get(m) != digest(source_path(m))]


class _SourcesFirst:
    """A finder ahead of the standard ones that loads the compiled modules from their sources."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        module = fullname.removeprefix("alluse.")
        if module == fullname or module not in COMPILED:
            return None
        return importlib.util.spec_from_file_location(fullname, source_path(module))


def pure_requested() -> bool:
    """`ALLUSE_PURE=1`: at install, compile nothing; at run time, run the sources even where compiled
    modules are installed (a debugger, a line profiler, or a comparison needs the Python code)."""
    return os.environ.get("ALLUSE_PURE") == "1"


def use_sources() -> None:
    if not any(isinstance(f, _SourcesFirst) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourcesFirst())


def check_sources() -> None:
    """Raises ImportError naming every compiled module whose source changed since it was compiled."""
    stale = stale_modules()
    if stale:
        raise ImportError(
            f"alluse: compiled modules older than their source: {', '.join(stale)}. Rebuild them "
            "(`make`, or `pip install -e .`), or set ALLUSE_PURE=1 and reinstall to run uncompiled"
        )


def describe() -> str:
    """One line for reports: which build is running."""
    compiled = compiled_modules()
    if not compiled:
        return "pure Python (ALLUSE_PURE=1)" if pure_requested() else "pure Python (order path not compiled)"
    if len(compiled) == len(COMPILED):
        return f"order path compiled with mypyc ({len(compiled)} modules)"
    return f"partly compiled: {len(compiled)} of {len(COMPILED)} order-path modules"
