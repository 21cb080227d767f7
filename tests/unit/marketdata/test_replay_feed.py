import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from alluse.common.clock import TestClock, datetime_to_ns
from alluse.marketdata import DataEngine, QuoteCache, RejectReason, ReplayFeed
from alluse.model import Equity, InvalidInput, Option, Quote, Right
from alluse.model.registry import InstrumentRegistry

HEADER = "ts,symbol,bid,ask,bid_size,ask_size\n"
PUT_ID = "AAPL  260116P00150000"


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "quotes.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


class Sink:
    def __init__(self, clock: TestClock) -> None:
        self.clock = clock
        self.batches: list[tuple[int, list[Quote]]] = []

    def __call__(self, batch: list[Quote]) -> None:
        self.batches.append((self.clock.now_ns(), batch))


def test_reads_ns_and_iso_timestamps_and_option_symbols(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "1700000000000000000,AAPL,189.5,189.52,3,4\n"
        f"2024-01-02T14:30:00Z,{PUT_ID},1.2,1.25,10,12\n"
        "2024-01-02T14:30:00.000001,AAPL260116P00150000,1.21,1.26,1,1\n",  # naive = UTC, unpadded root
    )
    feed = ReplayFeed(path, TestClock())
    quotes = list(feed.quotes())
    iso = datetime_to_ns(datetime(2024, 1, 2, 14, 30, tzinfo=UTC))
    assert [q.ts_event for q in quotes] == [1_700_000_000_000_000_000, iso, iso + 1_000]
    assert all(q.ts_recv == q.ts_event for q in quotes)
    assert quotes[0] == Quote("AAPL", 189.5, 189.52, 3, 4, 1_700_000_000_000_000_000, 1_700_000_000_000_000_000)
    assert quotes[1].instrument_id == quotes[2].instrument_id == PUT_ID
    assert feed.instruments() == {Equity("AAPL"), Option("AAPL", date(2026, 1, 16), Decimal(150), Right.PUT)}
    assert feed.malformed == 0 and len(feed) == 3


def test_start_schedules_rows_relative_to_the_first_and_batches_equal_ts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "1000,AAPL,1.0,1.1,1,1\n"
        "1000,MSFT,2.0,2.1,1,1\n"
        "1500,AAPL,1.01,1.1,1,1\n"
        "3000,AAPL,1.02,1.1,1,1\n"
        "3000,MSFT,2.01,2.1,1,1\n",
    )
    clock = TestClock(50_000)
    feed = ReplayFeed(path, clock)
    sink = Sink(clock)
    feed.start(sink)
    assert sink.batches == [] and feed.running and not feed.done
    clock.advance(0)  # the first row is due now
    assert [(t, [q.instrument_id for q in b]) for t, b in sink.batches] == [(50_000, ["AAPL", "MSFT"])]
    clock.advance(499)
    assert len(sink.batches) == 1
    clock.advance(1)
    assert sink.batches[-1][0] == 50_500 and len(sink.batches[-1][1]) == 1
    assert not feed.done
    clock.advance(1_500)
    assert [(t, len(b)) for t, b in sink.batches] == [(50_000, 2), (50_500, 1), (52_000, 2)]
    assert all(q.ts_event == q.ts_recv == t for t, b in sink.batches for q in b)
    assert feed.done and not feed.running and feed.delivered == 5


def test_stop_cancels_and_start_replays_from_the_beginning(tmp_path: Path) -> None:
    path = write(tmp_path, "0,AAPL,1.0,1.1,1,1\n100,AAPL,1.0,1.1,1,1\n")
    clock = TestClock()
    feed = ReplayFeed(path, clock)
    sink = Sink(clock)
    feed.start(sink)
    with pytest.raises(RuntimeError, match="already running"):
        feed.start(sink)
    clock.advance(0)
    feed.stop()
    clock.advance(1_000)
    assert len(sink.batches) == 1 and not feed.done and not feed.running
    feed.start(sink)
    clock.run_until_idle()
    assert [t for t, _ in sink.batches] == [0, 1_000, 1_100]
    assert feed.done and feed.delivered == 2


def test_sink_may_stop_the_feed(tmp_path: Path) -> None:
    path = write(tmp_path, "0,AAPL,1.0,1.1,1,1\n10,AAPL,1.0,1.1,1,1\n")
    clock = TestClock()
    feed = ReplayFeed(path, clock)
    got: list[list[Quote]] = []
    feed.start(lambda batch: (got.append(batch), feed.stop()))
    clock.run_until_idle()
    assert len(got) == 1 and not feed.done


@pytest.mark.parametrize(
    ("row", "field", "value"),
    [
        ("1000,AAPL,1.0,1.1,1", "ask_size", ""),  # missing field
        ("1000,AAPL,,1.1,1,1", "bid", ""),  # empty field
        ("1000,AAPL,abc,1.1,1,1", "bid", "abc"),
        ("1000,AAPL,1.0,1.1x,1,1", "ask", "1.1x"),
        ("1000,AAPL,1.0,1.1,1.5,1", "bid_size", "1.5"),
        ("1000,AAPL,1.0,1.1,1,ten", "ask_size", "ten"),
        ("1000,aapl,1.0,1.1,1,1", "symbol", "aapl"),
        ("1000,AAPL261318P00150000,1.0,1.1,1,1", "symbol", "AAPL261318P00150000"),  # month 13
        ("yesterday,AAPL,1.0,1.1,1,1", "ts", "yesterday"),
        ("1000,AAPL,1.0,1.1,1,1,9", "row", "1000,AAPL,1.0,1.1,1,1,9"),
    ],
)
def test_malformed_rows_are_skipped_counted_and_logged_with_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, row: str, field: str, value: str
) -> None:
    path = write(tmp_path, f"900,MSFT,2.0,2.1,1,1\n{row}\n1100,MSFT,2.0,2.1,1,1\n")
    with caplog.at_level(logging.WARNING, logger="alluse.marketdata.replay"):
        feed = ReplayFeed(path, TestClock())
    assert feed.malformed == 1
    assert [q.ts_event for q in feed.quotes()] == [900, 1100]
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "line 3" in message and f"{field}={value!r}" in message


def test_numeric_but_invalid_values_pass_through_to_the_engine(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "0,AAPL,1.0,1.1,1,1\n"
        "1,AAPL,nan,1.1,1,1\n"
        "2,AAPL,-1.0,1.1,1,1\n"
        "3,AAPL,1.2,1.1,1,1\n"
        "4,AAPL,1.0,1.1,-5,1\n"
        "5,MSFT,1.0,1.1,1,1\n",
    )
    clock = TestClock()
    feed = ReplayFeed(path, clock)
    assert feed.malformed == 0 and len(feed) == 6
    registry = InstrumentRegistry([i for i in feed.instruments() if i.id == "AAPL"])  # MSFT left unknown
    engine = DataEngine(registry, QuoteCache(clock, 10**9, 10, registry.is_option), clock)
    feed.start(engine.on_quotes)
    clock.run_until_idle()
    assert engine.accepted == 1
    assert {r: n for r, n in engine.rejected.items() if n} == {
        RejectReason.NAN_OR_INF: 1,
        RejectReason.NON_POSITIVE_PRICE: 1,
        RejectReason.CROSSED: 1,
        RejectReason.NEGATIVE_SIZE: 1,
        RejectReason.UNKNOWN_INSTRUMENT: 1,
    }


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(InvalidInput) as err:
        ReplayFeed(path, TestClock())
    assert err.value.field == "path" and err.value.value == str(path)


@pytest.mark.parametrize("header", ["ts,symbol,bid,ask,size\n", "symbol,ts,bid,ask,bid_size,ask_size\n", ""])
def test_wrong_header_names_the_header_and_path(tmp_path: Path, header: str) -> None:
    path = write(tmp_path, "" if not header else "1,AAPL,1.0,1.1,1,1\n", header=header)
    with pytest.raises(InvalidInput) as err:
        ReplayFeed(path, TestClock())
    assert err.value.field == "header"
    assert err.value.value == header.strip()
    assert str(path) in str(err.value)


def test_empty_replay_is_done_at_once(tmp_path: Path) -> None:
    clock = TestClock()
    feed = ReplayFeed(write(tmp_path, ""), clock)
    feed.start(Sink(clock))
    assert feed.done and feed.delivered == 0
