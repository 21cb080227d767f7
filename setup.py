"""The order path compiled with mypyc, when the machine can build it.

The modules an order passes through (`COMPILED` in src/alluse/build.py) are compiled to C extensions
from the same source: OR-1 runs in about half the time (docs/performance.md). A machine without a C
compiler, or `ALLUSE_PURE=1`, gets the same package uncompiled; `alluse run` and the benchmark report
say which one runs. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import functools
import os
import runpy
import sys
from pathlib import Path

from setuptools import Extension, setup
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


# setup.py is run for each of pip's steps; these only describe the package, and need no compile
METADATA_COMMANDS = frozenset({"egg_info", "dist_info"})


class OptionalBuildExt(build_ext):
    """All compiled modules or none: a failed compile removes whatever it built (a module's stub
    without the shared library would not import) and leaves the pure-Python package.

    mypyc runs when the command is set up for a build (once per process), not for pip's metadata steps:
    each mypyc pass takes about 15 s, and pip sets this command up four times per install."""

    def finalize_options(self) -> None:
        if not set(self.distribution.commands) <= METADATA_COMMANDS:
            self.record, extensions = mypyc_outcome()
            if isinstance(extensions, BaseException):  # nothing to build: this command will not run
                self.distribution.ext_modules = uncompiled(f"mypyc could not compile the order path ({extensions!r})")
            else:
                self.distribution.ext_modules = extensions
        super().finalize_options()

    def run(self) -> None:
        in_tree = self.inplace or getattr(self, "editable_mode", False)  # an editable install copies into src/
        targets = [Path(self.build_lib) / "alluse"] + ([HERE / "src" / "alluse"] if in_tree else [])
        remove_compiled(*targets)  # a module no longer compiled must not stay behind to shadow its source
        try:
            super().run()
        except Exception as exc:  # no compiler or no headers: distutils raises several error types
            remove_compiled(*targets)
            print(f"alluse: compiling the order path failed ({exc}); installing it uncompiled", file=sys.stderr)
            return
        for package_dir in targets:
            package_dir.mkdir(parents=True, exist_ok=True)
            build["write_record"](package_dir, self.record)


@functools.cache
def mypyc_outcome() -> tuple[dict[str, str], list | BaseException]:
    """The digests of the sources compiled (taken first: a source edited during the compile must not pass
    as compiled) and mypyc's extensions, or why there are none (no mypyc in the build environment, or a
    type it refuses: mypy reports one by exiting)."""
    record = build["source_digests"]()
    try:
        return record, mypyc_extensions()
    except (Exception, SystemExit) as exc:
        return record, exc


def mypyc_extensions() -> list:
    from mypyc.build import mypycify  # in the build environment (pyproject's build-system requires)

    os.chdir(HERE)  # mypycify takes paths relative to the project
    sources = [str(build["source_path"](m).relative_to(HERE)) for m in build["COMPILED"]]
    # the modules they import are analysed but not compiled (nor checked), whatever the build
    # environment has installed of the libraries they use
    options = ["--follow-imports=silent", "--ignore-missing-imports"]
    return mypycify(options + sources, opt_level="3")


def uncompiled(reason: str) -> list:
    """No extensions: and none left from an earlier build, in the tree or in setuptools' build dir
    (build_ext does not run without extensions, and a wheel takes what build/ holds)."""
    remove_compiled(HERE / "src" / "alluse", *HERE.glob("build/lib*/alluse"))
    if reason:
        print(f"alluse: {reason}; installing the order path uncompiled", file=sys.stderr)
    return []


def ext_modules() -> list:
    """A stand-in that the build replaces with the compiled modules (OptionalBuildExt), or none."""
    return uncompiled("") if build["pure_requested"]() else [Extension("alluse._order_path", sources=[])]


setup(ext_modules=ext_modules(), cmdclass={"build_ext": OptionalBuildExt})
