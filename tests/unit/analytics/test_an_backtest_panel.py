"""Backtest picture: the equity and drawdown drawn are the result's own numbers on the right dates, each
account's figures are written beside them, and missing or malformed data draws the frame and says why."""

from __future__ import annotations

import struct
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from alluse.analytics import backtest_panel as bp
from alluse.analytics import dashboard
from alluse.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SIZE = (int(bp.FIGSIZE_IN[0] * bp.DPI), int(bp.FIGSIZE_IN[1] * bp.DPI))  # (1440, 816)
FIRST_CLOSE = datetime(2026, 1, 5, 21, tzinfo=UTC)  # 16:00 New York
CLOSES = [FIRST_CLOSE + timedelta(days=d) for d in (0, 1, 2, 3, 4, 7, 8)]  # a weekend between
GEN = [100_000.0, 102_000.0, 99_000.0, 101_000.0, 105_000.0, 104_000.0, 106_500.0]
REV = [150_000.0, 149_000.0, 151_000.0, 150_500.0, 148_000.0, 149_000.0, 152_000.0]


def ns(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000_000


def account(name: str, **overrides: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "account": name, "deposits": "100000", "final_equity": "106500.000", "total_return": 0.065,
        "annualized_return": 0.4123, "max_drawdown": 0.0294117647, "max_drawdown_amount": "3000.00",
        "premium_collected": "8693.00", "assignments": 5, "calls_written": 8, "called_away": 3,
        "option_trades": 26, "wins": 19, "win_rate": 19 / 26,
    }  # fmt: skip
    entry.update(overrides)
    return entry


def result(**overrides: object) -> dict[str, object]:
    """A small BacktestResult in its JSON form, as app/backtest.py and options_book.to_json_value write it."""
    doc: dict[str, object] = {
        "start": "2026-01-05", "end": "2026-01-13", "sessions": len(CLOSES), "seed": 7, "wall_seconds": 1.25,
        "quote_events": 123_456,
        "accounts": [account("Gen-Acc"), account("Rev-Acc", deposits="150000", total_return=0.0133, win_rate=None,
                                                 option_trades=0, wins=0)],
        "equity": {"Gen-Acc": [[ns(c), v] for c, v in zip(CLOSES, GEN, strict=True)],
                   "Rev-Acc": [[ns(c), v] for c, v in zip(CLOSES, REV, strict=True)]},
        "digest": "f5eb11030328400d22baea541843a8ac", "notes": [],
    }  # fmt: skip
    doc.update(overrides)
    return doc


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE
    return struct.unpack(">II", head[16:24])


def text_of(fig: Figure) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(Text))


def drawn(fig: Figure, row: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Label -> (x, y) of the labelled lines on the equity (row 0) or drawdown (row 1) axes."""
    ax = fig.axes[row]
    return {
        str(line.get_label()): (np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float))
        for line in ax.get_lines()
        if not str(line.get_label()).startswith("_")
    }


def expected_drawdown(values: list[float]) -> np.ndarray:
    out, peak = [], -np.inf
    for v in values:
        peak = max(peak, v)
        out.append((v / peak - 1.0) * 100.0)
    return np.array(out)


# ---------------------------------------------------------------------------------------------- a good result


def test_renders_a_png_of_the_promised_size(tmp_path: Path) -> None:
    out = tmp_path / "backtest.png"
    bp.render_backtest(out, result())
    assert png_size(out) == SIZE == (1440, 816)


def test_the_equity_lines_are_the_results_values_at_its_closes() -> None:
    lines = drawn(bp.build_backtest_figure(result()), 0)
    assert set(lines) == {"Gen-Acc  +6.50%", "Rev-Acc  +1.33%"}
    x, y = lines["Gen-Acc  +6.50%"]
    assert y.tolist() == GEN
    assert lines["Rev-Acc  +1.33%"][1].tolist() == REV
    assert [mdates.num2date(d, tz=UTC) for d in x] == pytest.approx(CLOSES, abs=timedelta(milliseconds=1))


def test_the_drawdown_is_the_fall_from_the_highest_close_so_far() -> None:
    lines = drawn(bp.build_backtest_figure(result()), 1)
    np.testing.assert_allclose(lines["Gen-Acc"][1], expected_drawdown(GEN))
    np.testing.assert_allclose(lines["Rev-Acc"][1], expected_drawdown(REV))
    assert lines["Gen-Acc"][1].min() == pytest.approx((99_000 / 102_000 - 1) * 100)  # the 2-day dip after 102k
    assert lines["Gen-Acc"][1].max() == 0.0


def test_the_deposits_are_dotted_and_the_dates_are_the_header() -> None:
    fig = bp.build_backtest_figure(result())
    dotted = [ln.get_ydata()[0] for ln in fig.axes[0].get_lines() if ln.get_linestyle() == ":"]
    assert sorted(dotted) == [100_000.0, 150_000.0]
    text = text_of(fig)
    assert "2026-01-05 → 2026-01-13  ·  7 sessions  ·  seed 7" in text
    assert "123,456 quote events" in text and "1.2 s wall" in text and "journal digest f5eb11030328400d" in text
    assert "no equity points" not in text


def test_each_account_has_a_block_with_its_figures() -> None:
    text = text_of(bp.build_backtest_figure(result()))
    for line in ("total return       +6.50%", "annualized         +41.23%", "max drawdown       2.94% (3,000.00)",
                 "premium collected  8,693.00", "puts assigned      5", "calls written      8",
                 "called away        3", "win rate           73% (19/26)", "deposits           150,000.00",
                 "win rate           - (none closed)", "equity at the end  106,500.00"):  # fmt: skip
        assert line in text, line


def test_the_whole_document_is_read_through_its_backtest_part() -> None:
    lines = drawn(bp.build_backtest_figure({"summary": {"consistent": True}, "backtest": result()}), 0)
    assert lines["Gen-Acc  +6.50%"][1].tolist() == GEN


def test_a_shared_helper_is_the_dashboards() -> None:
    """One style for both pages: the panel titles are the dashboard's."""
    fig = bp.build_backtest_figure(result())
    assert fig.axes[0].get_title(loc="left") == "Equity at each session close (dotted: deposits)"
    (title,) = [t for t in fig.findobj(Text) if t.get_text().startswith("Equity at each")]
    assert title.get_fontsize() == dashboard.TITLE_SIZE and title.get_fontweight() == "bold"
    assert fig.axes[0].get_lines()[0].get_color() == dashboard.COLORS[0]


def test_a_year_of_closes_renders_quickly(tmp_path: Path) -> None:
    closes = [FIRST_CLOSE + timedelta(days=d) for d in range(365) if (FIRST_CLOSE + timedelta(days=d)).weekday() < 5]
    rng = np.random.default_rng(5)
    walk = 100_000 * np.cumprod(1 + rng.normal(0, 0.01, len(closes)))
    equity = {name: [[ns(c), float(v * k)] for c, v in zip(closes, walk, strict=True)]
              for name, k in (("A", 1.0), ("B", 1.5), ("C", 0.7))}  # fmt: skip
    doc = result(sessions=len(closes), equity=equity, accounts=[account(n) for n in equity])
    began = time.perf_counter()
    bp.render_backtest(tmp_path / "year.png", doc)
    elapsed = time.perf_counter() - began
    assert png_size(tmp_path / "year.png") == SIZE
    assert elapsed < 2.0, f"{elapsed:.2f} s"


# ---------------------------------------------------------------------------------------------- bad and missing data


def test_an_account_without_points_is_named_and_the_other_still_drawn(tmp_path: Path) -> None:
    doc = result(equity={"Gen-Acc": [[ns(c), v] for c, v in zip(CLOSES, GEN, strict=True)], "Rev-Acc": []})
    bp.render_backtest(tmp_path / "one.png", doc)
    assert png_size(tmp_path / "one.png") == SIZE
    fig = bp.build_backtest_figure(doc)
    assert list(drawn(fig, 0)) == ["Gen-Acc  +6.50%"] and list(drawn(fig, 1)) == ["Gen-Acc"]
    legend = fig.axes[0].get_legend()
    assert legend is not None and legend.get_texts()[-1].get_text() == "no equity points: Rev-Acc"
    text = text_of(fig)
    assert "Rev-Acc\nequity at the end" in text and text.count("no equity points") == 2  # legend and block


def test_an_account_only_in_the_figures_is_named_too() -> None:
    doc = result(equity={"Gen-Acc": [[ns(c), v] for c, v in zip(CLOSES, GEN, strict=True)]})
    legend = bp.build_backtest_figure(doc).axes[0].get_legend()
    assert legend is not None and legend.get_texts()[-1].get_text() == "no equity points: Rev-Acc"


def test_zero_sessions_draws_the_frame_and_says_why(tmp_path: Path) -> None:
    doc = result(sessions=0, equity={"Gen-Acc": [], "Rev-Acc": []})
    bp.render_backtest(tmp_path / "zero.png", doc)
    assert png_size(tmp_path / "zero.png") == SIZE
    fig = bp.build_backtest_figure(doc)
    assert fig.axes[0].get_lines() == [] and fig.axes[1].get_lines() == []
    assert "no session closes from 2026-01-05 → 2026-01-13" in text_of(fig)


def test_no_accounts_says_so() -> None:
    text = text_of(bp.build_backtest_figure(result(accounts=[], equity={})))
    assert "no accounts in the result: nothing traded" in text


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        "backtest",
        {},
        {"equity": "not a mapping", "accounts": "not a list", "sessions": "many", "notes": ["a note"]},
        {"equity": {"A": None, "B": 5, "C": [[1, 2, 3]]}, "accounts": [1, None, {"no": "name"}]},
        result(accounts=[account("Gen-Acc", total_return="abc", win_rate="x", assignments=True, deposits=None)]),
    ],
)
def test_malformed_results_draw_and_never_raise(tmp_path: Path, doc: object) -> None:
    out = tmp_path / "bad.png"
    bp.render_backtest(out, doc)
    assert png_size(out) == SIZE


def test_malformed_points_are_dropped_and_counted() -> None:
    points = [[ns(CLOSES[1]), "101.5"], [1, "nan"], "bad", [True, 1.0], [ns(CLOSES[0]), 100.0], [2, None], [3]]
    curves = bp.parse_curves({"equity": {"A": points}})
    assert curves["A"].ts_ns.tolist() == [ns(CLOSES[0]), ns(CLOSES[1])]  # in time order
    assert curves["A"].equity.tolist() == [100.0, 101.5] and curves["A"].dropped == 5
    fig = bp.build_backtest_figure({"sessions": 2, "equity": {"A": points}, "accounts": [account("A")]})
    assert drawn(fig, 0)["A  +6.50%"][1].tolist() == [100.0, 101.5]
    assert "5 malformed points dropped" in text_of(fig)


def test_not_an_object_says_what_it_got() -> None:
    assert "not a backtest result: expected a JSON object, got list" in text_of(bp.build_backtest_figure([1]))


def test_an_unwritable_path_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        bp.render_backtest(tmp_path / "missing" / "b.png", result())


# ---------------------------------------------------------------------------------------------- the command


def test_alluse_backtest_writes_the_png_and_ends_with_its_path(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data_dir = tmp_path / "bt"
    code = main(["backtest", "--start", "2026-11-30", "--end", "2026-12-04", "--data-dir", str(data_dir)])
    out = capsys.readouterr().out
    assert code == 0, out
    png = data_dir / "backtest.png"
    assert png_size(png) == SIZE
    assert out.strip().splitlines()[-1].endswith(str(png))
    assert (data_dir / "backtest.json").exists()
