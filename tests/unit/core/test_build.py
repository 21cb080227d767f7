"""The compiled build's safety net: a compiled module never runs in place of an edited source, and
ALLUSE_PURE=1 runs the sources wherever compiled modules are installed."""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import alluse.build as build


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package directory of its own, with two sources, for the checks to look at."""
    pkg = tmp_path / "alluse"
    (pkg / "execution").mkdir(parents=True)
    for module in ("model", "execution.oms"):
        pkg.joinpath(*module.split(".")).with_suffix(".py").write_text(f"# {module}\n")
    monkeypatch.setattr(build, "PACKAGE_DIR", pkg)
    # as a compiled process sees it, also when the suite itself runs on the sources (ALLUSE_PURE=1)
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if not isinstance(f, build._SourcesFirst)])
    monkeypatch.setattr(build, "COMPILED", ("model", "execution.oms"))
    return pkg


def compile_fake(pkg: Path, module: str) -> Path:
    path = pkg.joinpath(*module.split("."))
    so = path.with_name(path.name + ".cpython-311-x86_64-linux-gnu.so")
    so.write_bytes(b"")
    return so


def test_no_compiled_module_means_nothing_is_stale(package):
    assert build.compiled_modules() == [] and build.stale_modules() == []
    build.check_sources()
    assert build.describe().startswith("pure Python")


def test_a_compiled_module_matches_the_source_it_was_compiled_from(package):
    compile_fake(package, "execution.oms")
    compile_fake(package, "model")
    build.write_record(package, build.source_digests())
    assert sorted(build.compiled_modules()) == ["execution.oms", "model"]
    assert build.stale_modules() == []
    assert build.describe() == "order path compiled with mypyc (2 modules)"


def test_an_edited_source_makes_import_refuse_naming_the_module(package):
    compile_fake(package, "execution.oms")
    compile_fake(package, "model")
    build.write_record(package, build.source_digests())
    (package / "execution" / "oms.py").write_text("# oms, edited after the build\n")
    assert build.stale_modules() == ["execution.oms"]
    with pytest.raises(ImportError, match=r"older than the source of: execution\.oms\. Rebuild"):
        build.check_sources()


def test_an_edited_module_the_compiled_code_imports_makes_import_refuse(package, monkeypatch):
    """Compiled code takes in the field types of the classes it uses: a change there needs a rebuild too."""
    monkeypatch.setattr(build, "COMPILED", ("execution.oms",))
    (package / "execution" / "oms.py").write_text("from alluse.model import Order\n")
    compile_fake(package, "execution.oms")
    build.write_record(package, build.source_digests())
    assert build.build_inputs() == ["execution.oms", "model"] and build.stale_modules() == []
    (package / "model.py").write_text("# Order's fields changed\n")
    assert build.stale_modules() == ["model"]


def test_a_compiled_module_without_a_record_is_stale(package):
    compile_fake(package, "model")
    assert build.stale_modules() == ["model"]
    compile_fake(package, "execution.oms")
    (package / build.RECORD).write_text(json.dumps({"model": build.digest(package / "model.py")}))
    assert build.stale_modules() == ["execution.oms"]  # left by an earlier build that compiled more


def test_pure_runs_the_sources_in_a_fresh_process():
    env = {**os.environ, "ALLUSE_PURE": "1"}
    code = "import alluse.build as b, alluse.execution.oms as m; print(m.__file__); print(b.describe())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    path, described = out.splitlines()
    assert path.endswith("oms.py") and described == "pure Python (ALLUSE_PURE=1)"


def test_every_compiled_module_exists_as_a_source():
    assert all(build.source_path(m).is_file() for m in build.COMPILED)


def test_no_compiled_function_names_two_kinds_of_exception_alike():
    """mypyc gives an `except ... as name` variable the first clause's type in the whole function, so a
    later `except Exception as name` would raise TypeError on the exception it was meant to handle."""
    clashes = []
    for module in build.COMPILED:
        tree = ast.parse(build.source_path(module).read_text())
        for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
            kinds: dict[str, str] = {}
            for handler in (n for n in ast.walk(fn) if isinstance(n, ast.ExceptHandler) and n.name):
                kind = ast.unparse(handler.type) if handler.type else "BaseException"
                if kinds.setdefault(handler.name, kind) != kind:
                    clashes.append(f"{module}.{fn.name}:{handler.lineno} {handler.name}")
    assert clashes == []


@pytest.mark.skipif(build.pure_requested(), reason="the suite's run on the sources (ALLUSE_PURE=1)")
def test_the_installed_build_is_compiled_where_the_machine_can_compile():
    """setup.py falls back to the sources quietly (pip shows a backend's output only on failure): where
    a C compiler is present, a fallback means mypyc refused the source, and this says so."""
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here: the sources are the build")
    assert sorted(build.compiled_modules()) == sorted(build.COMPILED), build.describe()


@pytest.mark.parametrize(
    ("source", "drives"),
    [
        ("from alluse.execution.oms import OrderManager\n", True),  # a compiled module
        ("from alluse.brokers.paper import PaperVenue\n", True),  # through the package's front door
        ("def test():\n    from alluse.app.kernel import build_kernel\n", True),  # the wiring, imported late
        ("import alluse.analytics.trends\n", False),
        ("from alluse.model import Order\n", False),  # a value, not an engine
    ],
)
def test_a_test_file_drives_compiled_code_when_it_imports_it_or_its_wiring(tmp_path, source, drives):
    test_file = tmp_path / "test_x.py"
    test_file.write_text(source)
    assert build.exercises_compiled(test_file) is drives
