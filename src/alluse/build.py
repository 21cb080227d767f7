"""Which modules run compiled, and the check that each one was compiled from the source beside it.

setup.py compiles the modules an order passes through with mypyc when the machine has a C compiler
(and `ALLUSE_PURE` is not 1), and records a digest of each source it compiled. An extension module
shadows its `.py` at import, so a source edited after the build would silently not run: importing
`alluse` refuses that (see `check_sources`). This module imports nothing of the package: setup.py
reads it before the package is installed.
"""

from __future__ import annotations

import ast
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
    "common.clock",
    "common.bus",
    "model.registry",
    "common.sqlite_files",
    "model.events",
    "execution.fsm",
    "execution.oms",
    "execution.state",
    "execution.recording",
    "execution.dispatch",
    "execution.order_events",
    "execution.reconcile",
    "execution.journal",
    "execution.intent_log",
    "model.errors",
    "brokers.paper.venue",
    "brokers.paper.accounts",
    "brokers.paper.matching",
    "brokers.paper.settlement",
    "brokers.paper.link",
    "brokers.paper.store",
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
    "model.rows",
)


# the modules that build the compiled engines into a working order path (a test through them drives compiled code)
WIRING: frozenset[str] = frozenset({"app.kernel", "app.system", "bench.core"})


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


def build_inputs() -> list[str]:
    """The compiled modules and the package's modules they import. Compiled code takes in the field
    types of the classes it uses (an Order's quantity is read as an int), so a change to any of them
    needs a rebuild as much as a change to a compiled module."""
    modules = set(COMPILED)
    for module in COMPILED:
        modules.update(imported_modules(source_path(module)))
    return sorted(modules)


def imported_modules(path: Path) -> set[str]:
    """The package's modules a source file imports (anywhere in it), named relative to `alluse`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("alluse."):
            base = node.module.removeprefix("alluse.")
            found.update(c for c in [base, *(f"{base}.{a.name}" for a in node.names)] if module_source(c) is not None)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("alluse.") for a in node.names if a.name.startswith("alluse."))
    return found


def exercises_compiled(path: Path) -> bool:
    """Does a test file drive compiled code itself: import a compiled module, a package whose front door
    imports one, or the kernel that wires them? The pure pass of `make test` runs these again on the
    sources; the rest run once."""
    imported = imported_modules(path)
    fronts = (m for m in imported if module_source(m) == PACKAGE_DIR.joinpath(*m.split("."), "__init__.py"))
    reached = imported.union(*(imported_modules(PACKAGE_DIR.joinpath(*m.split("."), "__init__.py")) for m in fronts))
    return bool(reached & (set(COMPILED) | WIRING))


def module_source(module: str) -> Path | None:
    path = source_path(module)
    if path.is_file():
        return path
    package = PACKAGE_DIR.joinpath(*module.split("."), "__init__.py")
    return package if package.is_file() else None


def source_digests() -> dict[str, str]:
    """The digests of the sources a compile is made from (this checkout's), and of the modules they
    import. setup.py takes them before it compiles and writes them after (`write_record`)."""
    return {m: digest(module_source(m)) for m in build_inputs()}  # type: ignore[arg-type]


def write_record(target_dir: Path, record: dict[str, str]) -> None:
    (target_dir / RECORD).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def installed_modules() -> list[str]:
    """The modules installed compiled, whether or not this process runs them (ALLUSE_PURE=1)."""
    return [module_of(p) for p in extension_files()]


def compiled_modules() -> list[str]:
    """The modules that run compiled in this process."""
    return [] if _sources_first() else installed_modules()


def stale_modules() -> list[str]:
    """Modules whose source is not the one the compiled build was made from: a compiled module, or a
    module it imports (`build_inputs`); also a compiled module with no record (left from an earlier
    build that compiled more)."""
    compiled = installed_modules()
    if not compiled:
        return []
    try:
        record = json.loads((PACKAGE_DIR / RECORD).read_text())
    except (OSError, ValueError):
        return compiled
    unrecorded = [m for m in compiled if m not in record]
    changed = []
    for module, recorded in record.items():
        path = module_source(module)
        if path is None or digest(path) != recorded:
            changed.append(module)
    return sorted(set(unrecorded + changed))


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


def _sources_first() -> bool:
    return any(isinstance(f, _SourcesFirst) for f in sys.meta_path)


def use_sources() -> None:
    if not _sources_first():
        sys.meta_path.insert(0, _SourcesFirst())


def check_sources() -> None:
    """Raises ImportError naming every module whose source changed since the compiled build was made
    (see `stale_modules`)."""
    stale = stale_modules()
    if stale:
        raise ImportError(
            f"alluse: the compiled build is older than the source of: {', '.join(stale)}. Rebuild it "
            "(`make`, or `pip install -e .`), or run the sources with ALLUSE_PURE=1"
        )


def describe() -> str:
    """One line for reports: which build is running."""
    compiled = compiled_modules()
    if not compiled:
        return "pure Python (ALLUSE_PURE=1)" if pure_requested() else "pure Python (order path not compiled)"
    if len(compiled) == len(COMPILED):
        return f"order path compiled with mypyc ({len(compiled)} modules)"
    return f"partly compiled: {len(compiled)} of {len(COMPILED)} order-path modules"
