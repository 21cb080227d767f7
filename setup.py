"""The order path compiled with mypyc, when the machine can build it.

The modules an order passes through (`COMPILED` in src/alluse/build.py) are compiled to C extensions
from the same source: OR-1 runs in about half the time (docs/performance.md). A machine without a C
compiler, or `ALLUSE_PURE=1`, gets the same package uncompiled; `alluse run` and the benchmark report
say which one runs. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
build = runpy.run_path(str(HERE / "src" / "alluse" / "build.py"))  # the package itself is not importable yet


def remove_compiled(*package_dirs: Path) -> None:
    """What an earlier compiled build left in a package directory (an editable install builds in the
    source tree): it would shadow the sources a pure build is meant to run. A missing one is fine."""
    for package_dir in package_dirs:
        for path in build["extension_files"](package_dir):
            path.unlink()
        (package_dir / build["RECORD"]).unlink(missing_ok=True)
        for path in package_dir.parent.glob("*__mypyc.*.so"):
            path.unlink()


class OptionalBuildExt(build_ext):
    """All compiled modules or none: a failed compile removes whatever it built (a module's stub
    without the shared library would not import) and leaves the pure-Python package."""

    def run(self) -> None:
        in_tree = self.inplace or getattr(self, "editable_mode", False)  # an editable install copies into src/
        targets = [Path(self.build_lib) / "alluse"] + ([HERE / "src" / "alluse"] if in_tree else [])
        remove_compiled(*targets)  # a module no longer compiled must not stay behind to shadow its source
        record = build["source_digests"]()  # now: a source edited during the compile must not pass as compiled
        try:
            super().run()
        except Exception as exc:  # no compiler or no headers: distutils raises several error types
            remove_compiled(*targets)
            print(f"alluse: compiling the order path failed ({exc}); installing it uncompiled", file=sys.stderr)
            return
        for package_dir in targets:
            package_dir.mkdir(parents=True, exist_ok=True)
            build["write_record"](package_dir, record)


def uncompiled(reason: str) -> list:
    """No extensions: and none left from an earlier build, in the tree or in setuptools' build dir
    (build_ext does not run without extensions, and a wheel takes what build/ holds)."""
    remove_compiled(HERE / "src" / "alluse", *HERE.glob("build/lib*/alluse"))
    if reason:
        print(f"alluse: {reason}; installing the order path uncompiled", file=sys.stderr)
    return []


def ext_modules() -> list:
    if build["pure_requested"]():
        return uncompiled("")
    try:
        from mypyc.build import mypycify
    except ImportError:  # a build without isolation, in an environment without mypy
        return uncompiled("mypyc is not installed")
    os.chdir(HERE)  # mypycify takes paths relative to the project
    sources = [str(build["source_path"](m).relative_to(HERE)) for m in build["COMPILED"]]
    # the modules they import are analysed but not compiled (nor checked), whatever the build
    # environment has installed of the libraries they use
    options = ["--follow-imports=silent", "--ignore-missing-imports"]
    try:
        return mypycify(options + sources, opt_level="3")
    except (Exception, SystemExit) as exc:  # mypy reports a type error by exiting
        return uncompiled(f"mypyc refused the order path ({exc!r})")


setup(ext_modules=ext_modules(), cmdclass={"build_ext": OptionalBuildExt})
