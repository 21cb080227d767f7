"""`alluse record`: the simulated market's quotes to a file, for `alluse run --replay` (docs/replay.md);
and what a replaying run reads and prints about its recording."""

from __future__ import annotations

import argparse
import math
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from alluse.cli.inputs import check_count, check_writable_dir
from alluse.cli.output import console

if TYPE_CHECKING:  # imported by the commands themselves: `alluse --help` needs none of them
    from alluse.app.system import TradingSystem
    from alluse.marketdata.config import MarketConfig
    from alluse.marketdata.replay import Recording

# A Monday, 09:30 in New York: a fixed default start makes a seed's recording the same on every day it is
# made (the simulated market's listings and expiries follow the date).
DEFAULT_START = "2025-03-03T14:30:00+00:00"
MAX_DAYS = 3660.0  # ten years of quotes is a mistake, not a recording
FIRST_YEAR, LAST_YEAR = 1971, 2250  # a recording's ns timestamps stay positive and within int64
FILE_SUFFIXES = (".csv", ".csv.gz")  # an --out ending so is one file; anything else a directory, a file a day
MARKET_FLAGS = {"strikes_each_side": "--strikes", "weekly_expiries": "--expiries", "step_interval_s": "--step"}


def register(sub: argparse._SubParsersAction) -> None:
    rec = sub.add_parser("record", help="record the simulated market's quotes for `alluse run --replay`")
    rec.add_argument("--out", type=Path, required=True,
                     help="a .csv or .csv.gz file, or a directory (one YYYY-MM-DD.csv.gz file a UTC day)")  # fmt: skip
    rec.add_argument("--days", type=float, default=1.0, help="days of simulated time to record (default 1)")
    rec.add_argument("--seed", type=int, help="random seed of the simulated market (default: run.seed)")
    rec.add_argument(
        "--start", default=DEFAULT_START, help=f"ISO-8601 start, UTC if no offset (default {DEFAULT_START})"
    )
    rec.add_argument("--config", type=Path, help="TOML config file: its [market] section (defaults otherwise)")
    rec.add_argument("--underlyings", help="comma-separated tickers of [market.underlyings] (default: all)")
    rec.add_argument("--strikes", type=int, help="strikes each side of the money per expiry (market.strikes_each_side)")
    rec.add_argument("--expiries", type=int, help="weekly expiries listed at a time (market.weekly_expiries)")
    rec.add_argument("--step", type=float, help="simulated seconds between quote batches (market.step_interval_s)")
    rec.set_defaults(func=record_command)


def record_command(args: argparse.Namespace) -> int:
    from alluse.app.config import load_config
    from alluse.app.kernel import market_hours
    from alluse.common.clock import NS, datetime_to_ns, ns_to_datetime
    from alluse.marketdata.recorder import QuoteWriter, record_simulated
    from alluse.model import InvalidInput

    if args.seed is not None:
        check_count("--seed", args.seed, 0)
    if not (math.isfinite(args.days) and 0 < args.days <= MAX_DAYS):
        raise InvalidInput("--days", args.days, f"must be a number of days above 0 and at most {MAX_DAYS:g}")
    start_ns = datetime_to_ns(_parse_start(args.start))
    config = load_config(args.config, {"run": {"seed": args.seed}})
    market = _market(config.market, args)
    out: Path = args.out
    per_day = not out.name.endswith(FILE_SUFFIXES)
    _check_out(out, per_day)
    end_ns = start_ns + round(args.days * 86_400 * NS)
    hours = market_hours(config.model_copy(update={"market": market}), start_ns, years=1 + int(args.days) // 365)
    with QuoteWriter(out, per_day=per_day) as writer:
        result = record_simulated(market, config.run.seed, start_ns, end_ns, writer, hours)  # in session only
    size = sum(f.stat().st_size for f in result.files)
    span = (
        "no quotes"
        if result.first_ns is None or result.last_ns is None
        else f"{ns_to_datetime(result.first_ns):%Y-%m-%d %H:%M} -> {ns_to_datetime(result.last_ns):%Y-%m-%d %H:%M} UTC"
    )
    console.print(
        f"recorded {result.rows:,} quotes of {result.instruments} instruments ({', '.join(market.underlyings)}), "
        f"{span}, seed {config.run.seed}, into {escape(str(out))} ({len(result.files)} file(s), {size:,} bytes)",
        highlight=False,
        soft_wrap=True,
    )
    return 0


def _parse_start(text: str) -> datetime:
    from datetime import UTC

    from alluse.model import InvalidInput

    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput("--start", text, "not an ISO-8601 date and time") from None
    if not FIRST_YEAR <= start.year <= LAST_YEAR:  # nanoseconds since 1970 in an int64 reach 2262
        raise InvalidInput("--start", text, f"must be in the years {FIRST_YEAR} to {LAST_YEAR}")
    return start if start.tzinfo else start.replace(tzinfo=UTC)


def _market(market: MarketConfig, args: argparse.Namespace) -> MarketConfig:
    """The config's [market] with the command's choices, checked by the section's own rules; a refusal
    names the option."""
    from pydantic import ValidationError

    from alluse.marketdata.config import MarketConfig
    from alluse.model import InvalidInput

    values = market.model_dump()
    if args.underlyings is not None:
        tickers = [t.strip() for t in args.underlyings.split(",") if t.strip()]
        unknown = [t for t in tickers if t not in market.underlyings]
        if unknown or not tickers:
            known = ", ".join(market.underlyings)
            raise InvalidInput("--underlyings", args.underlyings, f"name tickers of [market.underlyings] ({known})")
        values["underlyings"] = {t: values["underlyings"][t] for t in tickers}
    for key, flag in MARKET_FLAGS.items():
        value = getattr(args, flag.removeprefix("--"))
        if value is not None:
            values[key] = value
    try:
        return MarketConfig.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else ""
        flag = MARKET_FLAGS.get(key, f"market.{key}")
        raise InvalidInput(flag, first.get("input"), first["msg"]) from None


def _check_out(out: Path, per_day: bool) -> None:
    from alluse.marketdata.replay import SUFFIXES
    from alluse.model import InvalidInput

    if not per_day:
        if out.is_dir():
            raise InvalidInput("--out", str(out), "is a directory (a file name ends in .csv or .csv.gz)")
        check_writable_dir("--out", out.parent)
        return
    if out.exists() and not out.is_dir():
        raise InvalidInput("--out", str(out), "not a directory, nor a name ending in .csv or .csv.gz")
    if out.is_dir() and any(f.name.endswith(SUFFIXES) for f in out.iterdir()):
        # a replay reads every day file there: an earlier recording's days would be mixed into this one
        raise InvalidInput("--out", str(out), "already holds recorded files; choose a new or empty directory")
    check_writable_dir("--out", out)


# ---------------------------------------------------------------------- `alluse run --replay`


def load_replay(path: Path) -> Recording:
    """The recording `alluse run --replay` replays, read before anything starts: a bad path or a file that
    is not a recording is one line naming --replay (the file within a directory, the line where it is)."""
    from alluse.marketdata.replay import Recording
    from alluse.model import InvalidInput

    try:
        return Recording(path)
    except InvalidInput as exc:
        whole = exc.field == "path" and exc.value == str(path)
        raise InvalidInput("--replay", str(path), exc.reason if whole else str(exc)) from None


def describe_replay(recording: Recording) -> str:
    """For the run's first line."""
    from alluse.common.clock import ns_to_datetime

    first, last = recording.first_ts, recording.last_ts
    span = ""
    if first is not None and last is not None:
        span = f", {ns_to_datetime(first):%Y-%m-%d %H:%M} -> {ns_to_datetime(last):%Y-%m-%d %H:%M} UTC"
    files = len(recording.files)
    return f"recorded quotes from {escape(recording.path)} ({len(recording):,} quotes in {files} file(s){span})"


def print_replay(system: TradingSystem) -> None:
    """The replay's counts at the end of the run: quotes accepted, and rejected by the engine's reasons, the
    rows the reader could not parse counted as `malformed` with them (docs/replay.md)."""
    from alluse.marketdata.engine import RejectReason
    from alluse.marketdata.replay import ReplayFeed

    feed = system.feed
    if not isinstance(feed, ReplayFeed):
        return
    recording = feed.recording
    engine = system.c.engine
    rejected = dict(engine.rejected)
    rejected[RejectReason.MALFORMED] += recording.malformed
    total = sum(rejected.values())
    left = len(recording) - feed.delivered
    console.print(
        f"replay of {escape(recording.path)}: {feed.delivered:,} of {len(recording):,} quotes delivered"
        + (f" (the run ended with {left:,} still to come)" if left else "")
        + f"; accepted {engine.accepted:,}; rejected {total:,}"
        + (": " + ", ".join(f"{reason.value}={n:,}" for reason, n in rejected.items() if n) if total else ""),
        highlight=False,
        soft_wrap=True,
    )
    if recording.malformed:
        console.print(
            f"replay: {recording.malformed:,} malformed {'row' if recording.malformed == 1 else 'rows'} skipped as the "
            "files were read (counted as malformed); "
            f"first: {escape(str(recording.problems[0]))}",
            highlight=False,
            soft_wrap=True,
        )
