"""`alluse record` and `alluse run --replay` as a person runs them: the shipped sample trades, the counts are
printed, a day directory with a bad row counts it by file and line, and bad paths and options are one line."""

import gzip
import re
import sqlite3
from pathlib import Path

import pytest

from alluse.cli import main
from alluse.marketdata.replay import Recording

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "quotes-sample.csv.gz"
COUNTS = re.compile(
    r"replay of (?P<path>\S+): (?P<delivered>[\d,]+) of (?P<total>[\d,]+) quotes delivered; "
    r"accepted (?P<accepted>[\d,]+); rejected (?P<rejected>[\d,]+)(?:: (?P<reasons>\S.*))?"
)
FAST = ("--duration", "60", "--speed", "100000")  # a replay ends when played out: the duration is a backstop


def counts(out: str) -> dict[str, str]:
    found = COUNTS.search(out)
    assert found is not None, out
    return {k: (v or "") if k in ("path", "reasons") else v.replace(",", "") for k, v in found.groupdict().items()}


def reasons(text: str) -> dict[str, int]:
    return {k: int(v.replace(",", "")) for k, v in (pair.split("=") for pair in text.split(", ") if pair)}


@pytest.mark.slow
def test_the_shipped_sample_replays_trades_and_prints_its_counts(alluse, data_dir, no_report):
    recording = Recording(SAMPLE)
    assert len(recording) > 0 and recording.malformed == 0
    res = alluse("run", "--replay", str(SAMPLE), "--config", no_report, *FAST, "--data-dir", str(data_dir))
    assert res.returncode == 0, res.stderr
    assert f"recorded quotes from {SAMPLE}" in res.stdout
    c = counts(res.stdout)
    assert int(c["delivered"]) == int(c["total"]) == len(recording)  # played out before the backstop
    assert int(c["accepted"]) == len(recording) and c["rejected"] == "0"
    assert "consistent" in res.stdout and "INCONSISTENT" not in res.stdout
    db = sqlite3.connect(data_dir / "journal.db")
    traded = {row[0] for row in db.execute("SELECT instrument_id FROM orders")}
    assert traded, res.stdout  # the strategy traded on the replayed chains...
    assert traded <= {i.id for i in recording.instruments()}  # ...and only on them


def record_days(tmp_path: Path, name: str, seed: int = 5) -> Path:
    out = tmp_path / name
    argv = ["record", "--out", str(out), "--days", "1.5", "--seed", str(seed), "--underlyings", "TSLA",
            "--strikes", "1", "--expiries", "1", "--step", "1800"]  # fmt: skip
    assert main(argv) == 0
    return out


def damage_second_day(out: Path) -> tuple[Path, int]:
    """Insert a row whose bid does not parse and a crossed quote into the second day's file; return the file
    and the line of the bad row."""
    day = sorted(out.iterdir())[1]
    lines = gzip.decompress(day.read_bytes()).decode().splitlines(keepends=True)
    ts, symbol, bid, ask, *_ = lines[2].split(",")
    lines.insert(3, f"{ts},{symbol},abc,{ask},1,1\n")
    lines.insert(4, f"{ts},{symbol},{float(ask) + 1},{ask},1,1\n")  # bid above ask: the engine's business
    day.write_bytes(gzip.compress("".join(lines).encode()))
    return day, 4


def test_a_day_directory_replays_and_counts_a_bad_row_by_file_line_field_and_value(
    capsys, tmp_path, data_dir, no_report
):
    out = record_days(tmp_path, "days")
    recorded = capsys.readouterr().out
    assert f"into {out}" in recorded
    assert len(list(out.iterdir())) > 1
    day, line = damage_second_day(out)
    recording = Recording(out)
    assert recording.malformed == 1
    assert main(["run", "--replay", str(out), "--config", no_report, *FAST, "--data-dir", str(data_dir)]) == 0
    stdout = capsys.readouterr().out
    c = counts(stdout)
    assert int(c["delivered"]) == int(c["total"]) == len(recording)
    by_reason = reasons(c["reasons"])
    assert by_reason == {"malformed": 1, "crossed": 1}
    assert int(c["rejected"]) == sum(by_reason.values())
    assert int(c["accepted"]) == len(recording) - by_reason["crossed"]  # every other row was a good quote
    assert f"first: {day} line {line}: bid='abc': not a number" in stdout


def test_recording_twice_with_a_seed_gives_the_same_bytes(capsys, tmp_path):
    a, b = (record_days(tmp_path, n) for n in ("a.csv.gz", "b.csv.gz"))
    assert a.read_bytes() == b.read_bytes() and a.read_bytes()[:2] == b"\x1f\x8b"
    assert record_days(tmp_path, "c.csv.gz", seed=6).read_bytes() != a.read_bytes()


def refused(capsys, *argv: str) -> str:
    assert main(list(argv)) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: "), err
    return err


def test_a_bad_replay_path_is_one_line_naming_replay_and_the_path(capsys, tmp_path, data_dir):
    missing = tmp_path / "nope.csv.gz"
    err = refused(capsys, "run", "--replay", str(missing), "--data-dir", str(data_dir))
    assert f"--replay='{missing}': no such file or directory" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert f"--replay='{empty}': a directory with no" in refused(capsys, "run", "--replay", str(empty),
                                                                 "--data-dir", str(data_dir))  # fmt: skip
    bad = tmp_path / "bad.csv"
    bad.write_text("time,sym\n1,AAPL\n")
    err = refused(capsys, "run", "--replay", str(bad), "--data-dir", str(data_dir))
    assert f"--replay='{bad}'" in err and "header='time,sym'" in err
    assert not data_dir.exists()  # refused before the run made anything


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--days", "0"], "--days=0.0: must be a number of days above 0"),
        (["--days", "nan"], "--days=nan"),
        (["--underlyings", "TSLA,ZZZ"], "--underlyings='TSLA,ZZZ': name tickers of [market.underlyings]"),
        (["--strikes", "-1"], "--strikes=-1:"),
        (["--step", "0"], "--step=0.0:"),
        (["--start", "monday"], "--start='monday': not an ISO-8601 date and time"),
        (["--start", "1900-01-01"], "--start='1900-01-01': must be in the years"),
        (["--seed", "-3"], "--seed=-3: must be at least 0"),
    ],
)
def test_a_bad_record_option_is_one_line_naming_it(capsys, tmp_path, argv, message):
    out = tmp_path / "q.csv.gz"
    assert message in refused(capsys, "record", "--out", str(out), *argv)
    assert not out.exists()


def test_record_refuses_a_directory_holding_an_earlier_recording(capsys, tmp_path):
    out = tmp_path / "days"
    out.mkdir()
    (out / "2025-01-02.csv.gz").write_bytes(b"")
    assert "already holds recorded files" in refused(capsys, "record", "--out", str(out))
