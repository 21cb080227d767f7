"""The summary shows every series name as itself, whatever its label values hold."""

import numpy as np
import pytest
from markdown_it import MarkdownIt

from alluse.analytics import summary
from alluse.analytics.config import AnalyticsConfig, TargetConfig
from alluse.analytics.data import ReportInput
from alluse.analytics.report import build_report
from alluse.analytics.results import NS_PER_S, Check, Report, SeriesData, Window

END = 1_800_000_000 * NS_PER_S
ODD = 'alluse_order_ack_latency_seconds:p99{account="*big*_fish_[x](y)<b>a</b>`c`|pipe\\~~s~~&amp;"}'
MARKUP = {"em", "strong", "link", "html_inline", "code_inline", "s", "image"}  # token kinds
# what rich renders (summary.md is also printed by `alluse report`)
MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])


@pytest.fixture(scope="module")
def odd_report() -> Report:
    t = END - np.arange(300, 0, -1, dtype=np.int64) * NS_PER_S
    v = 0.001 * (1 + np.arange(300) / 100) + np.random.default_rng(0).normal(0, 1e-4, 300)
    config = AnalyticsConfig(
        forecast_series=[],
        targets=[TargetConfig(component="trading", name="odd", series=ODD, statistic="p95", at_most=0.005)],
    )
    series = [SeriesData(ODD, t, v), SeriesData(ODD + "_x", t[:3], v[:3])]  # the second: too few to fit
    return build_report(ReportInput(Window(int(t[0]), END), series, [], []), config, generated_ns=END)


def _inline(md: str) -> list:
    return [child for tok in MD.parse(md) if tok.type == "inline" for child in tok.children or []]


def test_markup_in_series_names_is_shown_as_text(odd_report: Report) -> None:
    md = summary.markdown(odd_report)
    inline = _inline(md)
    assert not [tok.type for tok in inline if tok.type.removesuffix("_open") in MARKUP]
    texts = ["".join(c.content for c in tok.children or []) for tok in MD.parse(md) if tok.type == "inline"]
    short = ODD.removeprefix("alluse_")
    assert any(text == f"p95 of {short}" for text in texts)  # the grade table's figure cell
    assert any(text.startswith(f"largest regression: {short} is rising") for text in texts)
    assert any(text.startswith(f"trends {ODD}_x: 3 finite samples") for text in texts)


def test_readable_names_stay_unescaped_and_the_text_summary_is_raw(odd_report: Report) -> None:
    md = summary.markdown(odd_report)
    assert "| trading |" in md and "<= 5 ms" in md and "\\_" not in md.split("Rubric")[0]
    assert "order_ack_latency_seconds:p99" in md  # an underscore inside a word is left alone
    assert ODD.removeprefix("alluse_") in summary.text(odd_report)


def test_a_line_break_or_a_leading_block_marker_does_not_break_the_layout() -> None:
    assert summary._md_cell("a\nb|c") == "a b\\|c"
    assert [summary._md_item(x) for x in ("# h", "> q", "- l", "+ l")] == ["\\# h", "\\> q", "\\- l", "\\+ l"]
    assert summary._md_cell("-") == "-" and summary._md_cell(">= 0.99") == ">= 0.99"  # nothing to escape in a cell


def test_a_measured_figure_never_reads_as_its_target_when_it_is_not() -> None:
    lat = "alluse_order_ack_latency_seconds:p99"
    near = Check("trading", "ack", lat, "p95", "at_most", 0.005, 0.25, 0.0050004, 0.5, "near")
    assert summary._measured(near) == "5.0004 ms"
    exact = Check("trading", "ack", lat, "p95", "at_most", 0.005, 0.25, 0.005, 1.0, "met")
    assert summary._measured(exact) == "5 ms"
    assert summary._measured(Check("t", "a", lat, "p95", "at_most", 0.005, 0.25, None, None, "no data")) == "n/a"
    rate = 'alluse_quotes_total:rate{outcome="accepted"}'
    low = Check("md", "q", rate, "mean", "at_least", 5000.0, 0.25, 4999.6, 0.5, "near")
    assert summary._measured(low) == "4,999.6/s"
