"""The executive summary: grade, health per component with every input of the grade beside it,
insights, and what was skipped and why. One list of blocks, rendered as Markdown (summary.md, and
what the CLI prints) or as plain text (summary.txt)."""

from __future__ import annotations

import re
from typing import Literal, assert_never

from alluse.analytics.grading import score_text
from alluse.analytics.results import Check, Report, Skipped
from alluse.analytics.units import display, short_name, span_text, utc_text
from alluse.common.clock import ns_to_datetime

Table = tuple[list[str], list[list[str]]]  # headers, rows
Block = tuple[Literal["h1", "h2", "p"], str] | tuple[Literal["list"], list[str]] | tuple[Literal["table"], Table]
_LISTED = 3  # warm-up spans, or a part's "too short" series, shown one by one; more are summed up


def _measured(c: Check) -> str:
    """The measured figure, with more digits where three would show a miss as the target itself
    ('5 ms' against '<= 5 ms', status near)."""
    target = display(c.series, c.target)
    shown, digits = display(c.series, c.measured), 3
    while c.measured is not None and c.measured != c.target and shown == target and digits < 9:
        digits += 1
        shown = display(c.series, c.measured, digits)
    return shown


def blocks(report: Report) -> list[Block]:
    w, g = report.window, report.grade
    out: list[Block] = [("h1", "ALL-USE report")]
    if report.series_count:
        span = span_text((w.end_ns - w.start_ns) / 1e9)
        rebuilt = report.rebuilt_sample_count
        folded = (f" ({rebuilt:,} rebuilt from 1-minute aggregates: their count, mean, min and max are exact, "
                  "their spread within a minute is not)") if rebuilt else ""  # fmt: skip
        out.append(("p", f"Window {utc_text(w.start_ns)} to {utc_text(w.end_ns)} UTC ({span}): "
                         f"{report.series_count} series, {report.sample_count:,} samples{folded}, "
                         f"{len(report.alerts)} alert events."))  # fmt: skip
        if report.warmups:
            out.append(("p", _warmup_text(report)))
    score = "no data" if g.score is None else f"{score_text(g.score, 1)}/100"
    out.append(("h2", f"Grade {g.letter} ({score})"))
    if g.caps:  # the worst finding leads
        out.append(("p", "Held down by: " + "; ".join(g.caps) + "."))
    out.append(("p", f"Rubric: {g.rubric}."))
    rows = []
    for h in g.components:
        for c in h.checks:
            limit = ("<= " if c.comparison == "at_most" else ">= ") + display(c.series, c.target)
            rows.append([
                h.component, "-" if h.score is None else f"{score_text(h.score)} {h.status}", c.name,
                f"{c.statistic} of {short_name(c.series)}", _measured(c), limit,
                c.status, "-" if c.score is None else f"{c.score:g}",
            ])  # fmt: skip
    headers = ["component", "health", "check", "figure", "measured", "target", "status", "score"]
    out.append(("table", (headers, rows)))
    out.append(("h2", "Insights"))
    out.append(("list", [i.text for i in report.insights]))
    if report.forecasts:
        out.append(("h2", "Forecasts"))
        out.append(("table", (["series", "model", "horizon", "last mean", "95% band", "held-out error"], [
            [short_name(f.series), f.model, span_text(f.horizon_s), display(f.series, f.mean[-1]),
             f"{display(f.series, f.lo95[-1])} .. {display(f.series, f.hi95[-1])}",
             f"MAE {display(f.series, f.holdout_mae)}, {f.holdout_coverage95:.0%} in band"]
            for f in report.forecasts])))  # fmt: skip
        notes: dict[str, list[str]] = {}
        for f in report.forecasts:
            for note in f.notes:
                notes.setdefault(note, []).append(short_name(f.series))
        if notes:
            out.append(("list", [f"{note} ({', '.join(names)})" for note, names in notes.items()]))
    if report.skipped:
        out.append(("h2", "Skipped"))
        out.append(("list", _skipped_items(report.skipped, bool(report.warmups))))
    return out


def _clock(ts_ns: int) -> str:
    return f"{ns_to_datetime(ts_ns):%H:%M:%S}"


def _warmup_text(report: Report) -> str:
    spans = report.warmups
    shown = "; ".join(f"{_clock(s.start_ns)}-{_clock(s.end_ns)} UTC, {s.evidence}" for s in spans[:_LISTED])
    more = f"; {len(spans) - _LISTED} more in report.json" if len(spans) > _LISTED else ""
    return (f"Warm-up: the first {report.warmup_s:g} s of each run are left out of trends, anomalies and forecasts "
            f"({shown}{more}); the statistics and the grade include them.")  # fmt: skip


def _skipped_items(skipped: list[Skipped], warmed_up: bool) -> list[str]:
    """One line per skipped item, except that a part's "too short" series, when more than a few (every
    series of a short run), share one line: report.json lists each."""
    short: dict[str, list[Skipped]] = {}
    for s in skipped:
        if s.too_short is not None and s.series is not None:
            short.setdefault(s.part, []).append(s)
    items = []
    after = " (after the warm-up)" if warmed_up else ""
    for s in skipped:
        group = short.get(s.part, [])
        if s.too_short is None or len(group) <= _LISTED:
            items.append(f"{s.part}{'' if s.series is None else ' ' + s.series}: {s.reason}")
        elif s is group[0]:
            longest = max(g.too_short.had_s for g in group if g.too_short is not None)
            needs = span_text(s.too_short.needs_s)
            items.append(f"{s.part}: too short for {len(group)} series, at most {span_text(longest)} of data "
                         f"each{after} where {needs} is needed (report.json lists them)")  # fmt: skip
    return items


# Series names carry label values, which may hold any character: each one CommonMark (and the GFM tables
# and strikethrough that rich renders) could read as markup there is backslash-escaped, and only there,
# so the raw file stays readable (an underscore inside a word cannot start emphasis, nor "<=" a tag).
_MD_SPECIAL = re.compile(
    r"[\\`*\[\]|~]"  # code, emphasis, links, table cells, strikethrough
    r"|<(?=[A-Za-z/!?])"  # an HTML tag or autolink; "<= 5 ms" is left alone
    r"|&(?=#?\w+;)"  # an entity
    r"|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])"  # emphasis
)
_MD_BLOCK_START = re.compile(r"^[#>+-]")  # a heading, quote or nested list where a list item begins


def _md_cell(text: str) -> str:
    """Text shown as itself in a table cell: markup escaped, line breaks made spaces."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), " ".join(text.splitlines()))


def _md_item(text: str) -> str:
    """Text shown as itself in a list item, where a leading block marker would also be read."""
    return _MD_BLOCK_START.sub(lambda m: "\\" + m.group(0), _md_cell(text))


def markdown(report: Report) -> str:
    lines: list[str] = []
    for block in blocks(report):
        match block:
            case ("h1", title):
                lines += [f"# {title}", ""]
            case ("h2", title):
                lines += [f"## {title}", ""]
            case ("p", paragraph):
                lines += [paragraph, ""]
            case ("list", items):
                lines += [f"- {_md_item(item)}" for item in items] + [""]
            case ("table", (headers, rows)):
                lines.append("| " + " | ".join(headers) + " |")
                lines.append("|" + "---|" * len(headers))
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
                lines.append("")
            case _:
                assert_never(block)
    return "\n".join(lines)


def text(report: Report) -> str:
    lines: list[str] = []
    for block in blocks(report):
        match block:
            case ("h1" | "h2" as kind, title):
                lines += [title, "=" * len(title) if kind == "h1" else "-" * len(title)]
            case ("p", paragraph):
                lines += [paragraph, ""]
            case ("list", items):
                lines += [f"  * {item}" for item in items] + [""]
            case ("table", (headers, rows)):
                widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
                for r in [headers, *rows]:
                    lines.append("  ".join(str(c).ljust(wd) for c, wd in zip(r, widths, strict=True)).rstrip())
                lines.append("")
            case _:
                assert_never(block)
    return "\n".join(lines)
