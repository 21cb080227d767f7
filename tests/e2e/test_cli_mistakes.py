"""A person's mistakes, made on the real command: each ends in one line on stderr naming the path or the option,
exit code 2, no traceback, and nothing written or damaged. Ctrl-C ends a run with its summary, also during the
report; `-v` leaves the libraries' logging off the screen (issue #17 item 6)."""

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

RUN = ("--duration", "2", "--speed", "20000")
NO_REPORT = "[analytics]\nreport_on_exit = false\n"
# a bind mount of a directory onto itself, read-only, in a mount namespace of the command's own
READ_ONLY_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'


def refused(res: subprocess.CompletedProcess, *named: str) -> str:
    """Exit code 2 and one line on stderr naming each of `named`; the line."""
    assert "Traceback" not in res.stderr + res.stdout, res.stderr
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and "error: " in lines[0], res.stderr
    for name in named:
        assert name in lines[0]
    return lines[0]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` and its bytes: equal before and after means nothing was written or damaged."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def read_until(proc: subprocess.Popen, start: str) -> str:
    """Stdout up to and with the first line starting with `start` (the command has got that far)."""
    read = ""
    while line := proc.stdout.readline():
        read += line
        if line.startswith(start):
            return read
    raise AssertionError(f"no line starting {start!r}: {read}{proc.communicate()}")


def _works(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def no_report_config(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("config") / "no-report.toml"
    path.write_text(NO_REPORT)
    return str(path)


@pytest.fixture(scope="module")
def ran(alluse, tmp_path_factory, no_report_config) -> Path:
    """The data dir of one short run; a test copies it (`copy_of_ran`) before doing anything to it."""
    path = tmp_path_factory.mktemp("ran") / "data"
    res = alluse("run", "--config", no_report_config, *RUN, "--data-dir", str(path))
    assert res.returncode == 0, res.stderr
    return path


@pytest.fixture
def copy_of_ran(ran, tmp_path) -> Path:
    return Path(shutil.copytree(ran, tmp_path / "data"))


@pytest.fixture(scope="module")
def unprivileged() -> list[str]:
    """A prefix that runs a command without root's power to write anywhere: nothing for an ordinary user; for
    root, a user namespace where it is nobody (its own files then count as nobody's)."""
    if os.geteuid() != 0:
        return []
    prefix = ["unshare", "--map-user=65534", "--map-group=65534"]
    if not (shutil.which("unshare") and _works([*prefix, "true"])):
        pytest.skip("running as root, and no user namespace to run as nobody")
    return prefix


@pytest.fixture(scope="module")
def read_only(tmp_path_factory):
    """`read_only(path)`: the prefix that runs a command with `path` on a read-only mount."""
    prefix = ["unshare", "--map-root-user", "--mount", "sh", "-c", READ_ONLY_MOUNT]
    probe = tmp_path_factory.mktemp("probe")
    if not (shutil.which("unshare") and _works([*prefix, str(probe), "true"])):
        pytest.skip("no mount namespace here to mount a directory read-only")
    return lambda path: [*prefix, str(path)]


def test_a_data_dir_that_is_a_file_is_refused_and_left_as_it_was(alluse, tmp_path, no_report_config):
    path = tmp_path / "a-file"
    path.write_text("notes\n")
    for argv in (
        ("run", "--config", no_report_config, *RUN),
        ("backtest", "--start", "2025-03-03", "--end", "2025-03-04"),
        ("report",),
    ):
        assert "not a directory" in refused(alluse(*argv, "--data-dir", str(path)), str(path))
    for argv in (("orders",), ("positions",), ("halt",), ("alerts",)):
        refused(alluse(*argv, "--data-dir", str(path)), str(path))
    assert path.read_text() == "notes\n" and os.listdir(tmp_path) == ["a-file"]


def test_an_unwritable_data_dir_is_refused_untouched(alluse, copy_of_ran, unprivileged, no_report_config):
    before = snapshot(copy_of_ran)
    copy_of_ran.chmod(0o555)
    try:
        res = alluse("run", "--config", no_report_config, *RUN, "--data-dir", str(copy_of_ran), prefix=unprivileged)
        refused(res, str(copy_of_ran), "Permission denied")
        res = alluse("halt", "--data-dir", str(copy_of_ran), prefix=unprivileged)
        refused(res, f"journal {copy_of_ran / 'journal.db'}: cannot be written (permission denied)")
        res = alluse("orders", "--data-dir", str(copy_of_ran), prefix=unprivileged)  # reading needs no writing
        assert res.returncode == 0 and res.stderr == "", res.stderr
    finally:
        copy_of_ran.chmod(0o755)
    assert snapshot(copy_of_ran) == before


def test_a_data_dir_on_a_read_only_mount_is_read_but_not_written(alluse, copy_of_ran, read_only, no_report_config):
    before = snapshot(copy_of_ran)
    on_ro = read_only(copy_of_ran)
    res = alluse("run", "--config", no_report_config, *RUN, "--data-dir", str(copy_of_ran), prefix=on_ro)
    refused(res, str(copy_of_ran), "Read-only file system")
    res = alluse("halt", "--data-dir", str(copy_of_ran), prefix=on_ro)
    refused(res, f"journal {copy_of_ran / 'journal.db'}: cannot be written (read-only file system)")
    for reader in ("orders", "positions", "alerts"):  # reading needs no writing
        res = alluse(reader, "--data-dir", str(copy_of_ran), prefix=on_ro)
        assert res.returncode == 0 and res.stderr == "" and f"{reader} in" in res.stdout, res.stderr
    assert snapshot(copy_of_ran) == before


@pytest.mark.parametrize(
    "make,said",
    [
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(bytes(range(256)) * 8), "not UTF-8 text"),
        (lambda p: p.write_bytes(b"\x00" * 4096), "not valid TOML"),
        (lambda p: p.write_bytes(b"# " + b"x" * (2 << 20)), "larger than"),
    ],
    ids=["directory", "binary", "zeros", "huge"],
)
def test_a_config_that_is_not_a_config_file_is_refused(alluse, tmp_path, make, said):
    config = tmp_path / "alluse.toml"
    make(config)
    line = refused(alluse("run", "--config", str(config), *RUN, "--data-dir", str(tmp_path / "data")))
    assert f"config file {config}: {said}" in line
    assert not (tmp_path / "data").exists()


def test_a_damaged_venue_store_is_refused_untouched(alluse, copy_of_ran, no_report_config):
    venue = copy_of_ran / "venue.db"
    data = bytearray(venue.read_bytes())
    for page in range(1, len(data) // 4096):  # break every b-tree page header after the first page
        data[page * 4096] ^= 0xFF
    venue.write_bytes(bytes(data))
    before = snapshot(copy_of_ran)
    res = alluse("run", "--config", no_report_config, *RUN, "--data-dir", str(copy_of_ran))
    assert "left untouched" in refused(res, f"venue store {venue}")
    assert snapshot(copy_of_ran) == before


def test_a_replay_file_with_an_oversized_field_is_refused_naming_the_line(alluse, tmp_path, no_report_config):
    recording = tmp_path / "quotes.csv"
    recording.write_text(
        "ts,symbol,bid,ask,bid_size,ask_size\n"
        "2025-03-03T14:30:00,SPY,500.00,500.10,10,10\n"
        f"2025-03-03T14:30:01,{'X' * 200_000},500.00,500.10,10,10\n"
    )
    data_dir = tmp_path / "data"
    res = alluse("run", "--config", no_report_config, *RUN, "--data-dir", str(data_dir), "--replay", str(recording))
    line = refused(res, f"--replay='{recording}'", "line 3")
    assert re.search(r"a field longer than [\d,]+ characters", line), line
    assert not data_dir.exists()


def test_duration_inf_runs_until_ctrl_c_and_prints_the_summary(spawn, data_dir, no_report_config):
    proc = spawn("run", "--config", no_report_config, "--duration", "inf", "--speed", "20000", "--metrics-port", "0",
                 "--data-dir", str(data_dir))  # fmt: skip
    try:
        assert "until stopped" in read_until(proc, "ALL-USE")
        read_until(proc, "serving http")  # trading
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0 and err == "", err
    assert "run summary" in out and "consistent" in out and "INCONSISTENT" not in out


def test_ctrl_c_during_the_report_keeps_the_summary_and_says_so(spawn, data_dir):
    proc = spawn("run", *RUN, "--data-dir", str(data_dir))  # the run writes its report at the end
    try:
        out = read_until(proc, "metrics: ")  # the line before the report
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
        out += rest
    finally:
        proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "run summary" in out and "consistent" in out and "INCONSISTENT" not in out
    lines = err.splitlines()
    assert len(lines) == 1 and "report" in lines[0] and "interrupted" in lines[0], err
    report_dir = data_dir / "report"
    assert not report_dir.exists() or not [p for p in report_dir.iterdir() if ".tmp" in p.name]


PROBE = """
import ctypes, os, signal, sys
from alluse.cli.run import ReportInterrupted, _AfterTrading

handler = _AfterTrading()
handler.in_report = True
signal.signal(signal.SIGINT, handler)
run = ctypes.pythonapi.PyRun_String  # how Cython's import-time helpers run code
run.restype, run.argtypes = ctypes.py_object, [ctypes.c_char_p, ctypes.c_int, ctypes.py_object, ctypes.py_object]
try:
    run(b"import os, signal\\nos.kill(os.getpid(), signal.SIGINT)\\nfor _ in range(100): pass\\n", 257, {}, {})
except ReportInterrupted:
    print("stopped")
sys.exit(0)
"""


def test_a_ctrl_c_inside_library_code_of_the_report_leaves_the_exit_code_to_the_run(tmp_path):
    """The CI failure of 2026-12-05: a Ctrl-C that landed inside a library's PyRun_String during the report
    made `python -m alluse.cli run` die by SIGINT after printing its summary (exit -2, not 0)."""
    (tmp_path / "probe.py").write_text(PROBE)
    res = subprocess.run([sys.executable, "-m", "probe"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (res.returncode, res.stdout.strip()) == (0, "stopped"), res.stderr


LOG_LINE = re.compile(r"^\S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.]+): ")


def test_vv_logs_our_debug_but_not_the_libraries(alluse, data_dir, no_report_config):
    res = alluse("-vv", "run", "--config", no_report_config, *RUN, "--data-dir", str(data_dir))
    assert res.returncode == 0, res.stderr
    records = [m.groups() for line in res.stderr.splitlines() if (m := LOG_LINE.match(line))]
    assert any(name.startswith("alluse.") and level == "INFO" for level, name in records), res.stderr
    chatter = [(level, name) for level, name in records if not name.startswith("alluse") and level == "DEBUG"]
    assert chatter == [], chatter
