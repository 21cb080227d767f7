"""Recordings: gzip and directory-per-day inputs, the recorder's round trip, and where a bad row or file is named."""

import csv
import gzip
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alluse.common.clock import NS, TestClock, datetime_to_ns, ns_to_datetime
from alluse.marketdata import MarketConfig, Underlying
from alluse.marketdata.recorder import QuoteWriter, record_simulated
from alluse.marketdata.replay import HEADER, KEPT_PROBLEMS, Recording, ReplayFeed
from alluse.model import Equity, InvalidInput, Option, Quote, parse_symbol

MONDAY = datetime_to_ns(datetime(2025, 3, 3, 14, 30, tzinfo=UTC))
HOUR = 3_600 * NS
PUT = "TSLA  250307P00240000"


def quotes_over_days(days: int, per_day: int = 3) -> list[Quote]:
    """Stock and option quotes spread over `days` UTC days, in time order."""
    out = []
    for d in range(days):
        for i in range(per_day):
            ts = MONDAY + d * 24 * HOUR + i * HOUR
            out.append(Quote("TSLA", 250.0 + d + i / 100, 250.02 + d + i / 100, 100 * (i + 1), 200, ts, ts))
            out.append(Quote(PUT, 1.23 + i / 10, 1.3 + i / 10, 5 + i, 7, ts, ts))
    return out


def write_csv(path: Path, body: str, compress: bool = False) -> Path:
    text = ",".join(HEADER) + "\n" + body
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    return path


def test_a_written_file_reads_back_as_the_same_quotes_plain_or_gzip(tmp_path: Path) -> None:
    quotes = quotes_over_days(2)
    for name in ("q.csv", "q.csv.gz"):
        with QuoteWriter(tmp_path / name) as writer:
            writer.write(quotes)
        assert writer.rows == len(quotes) and writer.files == [tmp_path / name]
        recording = Recording(tmp_path / name)
        assert list(recording.quotes()) == quotes, name
        assert recording.malformed == 0 and recording.files == [str(tmp_path / name)]
        assert recording.instruments() == {Equity("TSLA"), parse_symbol(PUT)}
        assert (recording.first_ts, recording.last_ts) == (quotes[0].ts_event, quotes[-1].ts_event)
    assert (tmp_path / "q.csv.gz").read_bytes()[:2] == b"\x1f\x8b"  # compressed by its name
    assert (tmp_path / "q.csv").read_text().startswith(",".join(HEADER) + "\n")


def test_gzip_is_told_by_content_not_name(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "quotes.csv", f"1000,AAPL,1.0,1.1,1,1\n2000,{PUT},1.2,1.25,3,4\n", compress=True)
    recording = Recording(path)
    assert [q.instrument_id for q in recording.quotes()] == ["AAPL", PUT]


def test_a_directory_holds_one_file_a_day_read_in_name_order(tmp_path: Path) -> None:
    quotes = quotes_over_days(3)
    out = tmp_path / "days"
    with QuoteWriter(out, per_day=True) as writer:
        writer.write(quotes)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["2025-03-03.csv.gz", "2025-03-04.csv.gz", "2025-03-05.csv.gz"]
    (out / "notes.txt").write_text("not a recording")  # left alone
    (out / ".partial.csv").write_text("garbage")  # hidden: left alone
    recording = Recording(out)
    assert recording.files == [str(out / n) for n in names]
    assert list(recording.quotes()) == quotes and recording.malformed == 0


def test_a_directory_mixes_plain_and_gzip_days(tmp_path: Path) -> None:
    write_csv(tmp_path / "2025-03-04.csv.gz", "2000,AAPL,1.0,1.1,1,1\n", compress=True)
    write_csv(tmp_path / "2025-03-03.csv", "1000,AAPL,1.0,1.1,1,1\n")
    assert [q.ts_event for q in Recording(tmp_path).quotes()] == [1000, 2000]


def test_a_directory_without_recording_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("")
    with pytest.raises(InvalidInput) as err:
        Recording(tmp_path)
    assert err.value.field == "path" and err.value.value == str(tmp_path)
    assert ".csv.gz" in err.value.reason


def test_a_malformed_row_in_a_day_file_names_that_file_line_field_and_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_csv(tmp_path / "2025-03-03.csv.gz", "1000,AAPL,1.0,1.1,1,1\n", compress=True)
    day2 = write_csv(tmp_path / "2025-03-04.csv.gz", "2000,AAPL,1.0,1.1,1,1\n\n2001,AAPL,1.0,1.1x,1,1\n", compress=True)
    with caplog.at_level(logging.WARNING, logger="alluse.marketdata.replay"):
        recording = Recording(tmp_path)
    assert recording.malformed == 1 and len(recording) == 2
    problem = recording.problems[0]
    assert (problem.path, problem.line, problem.field, problem.value) == (str(day2), 4, "ask", "1.1x")
    assert str(problem) == f"{day2} line 4: ask='1.1x': not a number"
    assert [r.getMessage() for r in caplog.records] == [f"{problem}; row skipped"]


def test_many_malformed_rows_are_all_counted_the_first_few_kept_and_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = KEPT_PROBLEMS + 5
    path = write_csv(tmp_path / "q.csv", "1000,AAPL,1.0,1.1,1,1\n" + "x,AAPL,1.0,1.1,1,1\n" * bad)
    with caplog.at_level(logging.DEBUG, logger="alluse.marketdata.replay"):
        recording = Recording(path)
    assert recording.malformed == bad and len(recording) == 1
    assert [p.line for p in recording.problems] == list(range(3, 3 + KEPT_PROBLEMS))
    levels = [r.levelno for r in caplog.records]
    assert levels.count(logging.WARNING) == KEPT_PROBLEMS and levels.count(logging.DEBUG) == bad - KEPT_PROBLEMS
    assert "further malformed rows are logged at DEBUG" in caplog.records[KEPT_PROBLEMS - 1].getMessage()


def test_a_wrong_header_in_a_directory_names_the_file(tmp_path: Path) -> None:
    write_csv(tmp_path / "2025-03-03.csv", "1000,AAPL,1.0,1.1,1,1\n")
    bad = tmp_path / "2025-03-04.csv"
    bad.write_text("time,sym,b,a\n2000,AAPL,1,1\n")
    with pytest.raises(InvalidInput) as err:
        Recording(tmp_path)
    assert err.value.field == "header" and err.value.value == "time,sym,b,a" and str(bad) in err.value.reason


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_damaged_gzip_is_refused_naming_the_file(tmp_path: Path, damage: str) -> None:
    body = "".join(f"{1000 + i},AAPL,1.0,1.1,{i},1\n" for i in range(2_000))
    data = gzip.compress((",".join(HEADER) + "\n" + body).encode())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data = data[:20] + bytes(b ^ 0xFF for b in data[20:40]) + data[40:]
    path = tmp_path / "q.csv.gz"
    path.write_bytes(data)
    with pytest.raises(InvalidInput) as err:
        Recording(path)
    assert err.value.field == "path" and err.value.value == str(path) and "gzip" in err.value.reason


@pytest.mark.parametrize("compress", [False, True])
def test_a_field_beyond_the_csv_limit_refuses_the_file_naming_its_line(tmp_path: Path, compress: bool) -> None:
    """The csv module stops at a field longer than its limit: no row to skip, so the file is refused, by line."""
    huge = "X" * (csv.field_size_limit() + 1)
    path = write_csv(tmp_path / "q.csv", f"1000,AAPL,1.0,1.1,1,1\n\n1001,{huge},1.0,1.1,1,1\n", compress)
    with pytest.raises(InvalidInput) as err:
        Recording(path)
    limit = csv.field_size_limit()
    assert err.value.value == str(path)
    assert err.value.reason == f"line 4: a field longer than {limit:,} characters (not a quote recording)"


def test_a_binary_file_is_refused_as_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_bytes(",".join(HEADER).encode() + b"\n\xff\xfe\x00\x81,AAPL\n")
    with pytest.raises(InvalidInput) as err:
        Recording(path)
    assert err.value.value == str(path) and "UTF-8" in err.value.reason


def test_a_replay_feed_plays_a_recording_read_once(tmp_path: Path) -> None:
    quotes = quotes_over_days(2, per_day=2)
    out = tmp_path / "days"
    with QuoteWriter(out, per_day=True) as writer:
        writer(quotes)  # a quote sink
    recording = Recording(out)
    clock = TestClock(MONDAY)
    feed = ReplayFeed(recording, clock)
    got: list[Quote] = []
    feed.start(got.extend)
    clock.run_until_idle()
    assert feed.done and feed.delivered == len(quotes) == len(got)
    assert [q.ts_event for q in got] == [q.ts_event for q in quotes]  # the clock started at the first quote
    assert feed.instruments() == recording.instruments() and feed.malformed == 0


def small_market() -> MarketConfig:
    return MarketConfig(
        underlyings={"TSLA": Underlying(spot=250.0, vol=0.5), "NVDA": Underlying(spot=135.0, vol=0.4)},
        strikes_each_side=1,
        weekly_expiries=1,
        step_interval_s=1_800.0,
    )


def record(tmp_path: Path, name: str, seed: int, days: float = 1.5) -> Path:
    out = tmp_path / name
    writer = QuoteWriter(out, per_day=not name.endswith(".gz"))
    with writer:
        record_simulated(small_market(), seed, MONDAY, MONDAY + int(days * 24 * HOUR), writer)
    return out


def test_recording_the_simulated_market_is_deterministic_and_reads_back_clean(tmp_path: Path) -> None:
    a, b, c = (record(tmp_path, n, s) for n, s in (("a.csv.gz", 7), ("b.csv.gz", 7), ("c.csv.gz", 8)))
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    recording = Recording(a)
    assert recording.malformed == 0 and len(recording) > 0
    kinds = {type(i) for i in recording.instruments()}
    assert kinds == {Equity, Option}
    assert {i.underlying for i in recording.instruments() if isinstance(i, Option)} == {"TSLA", "NVDA"}
    first, last = recording.first_ts, recording.last_ts
    assert first is not None and last is not None
    assert MONDAY <= first <= last < MONDAY + int(1.5 * 24 * HOUR)
    ts = [q.ts_event for q in recording.quotes()]
    assert ts == sorted(ts)
    assert all(0 < q.bid <= q.ask for q in recording.quotes())


def test_recording_by_day_matches_recording_to_one_file(tmp_path: Path) -> None:
    one = Recording(record(tmp_path, "one.csv.gz", 3))
    days = record(tmp_path, "days", 3)
    by_day = Recording(days)
    days_quoted = sorted({ns_to_datetime(q.ts_event).date() for q in one.quotes()})
    assert len(days_quoted) > 1
    assert [Path(f).name for f in by_day.files] == [f"{d:%Y-%m-%d}.csv.gz" for d in days_quoted]
    assert list(by_day.quotes()) == list(one.quotes())
