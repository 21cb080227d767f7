"""`alluse positions` and `alluse run`'s summary show the options book: tables by default, one JSON document
with `--json`. Run in-process on a journal written here."""

import json
from decimal import Decimal
from pathlib import Path

from alluse.app.options_book import NO_QUOTE_OFFLINE, build_book
from alluse.app.run_summary import RunSummary
from alluse.cli import build_parser, main
from alluse.cli.run import _print_summary
from alluse.execution.journal import JOURNAL_FILE, Journal
from alluse.marketdata.pricing import DAY_NS
from alluse.model import Fill, Option, Right, Side, expiry_ns
from alluse.portfolio import Ledger, QualitySummary

PUT = Option("TSLA", Option.from_occ("TSLA  261218P00250000").expiry, Decimal("250"), Right.PUT)
NOW = expiry_ns(PUT) - 7 * DAY_NS
FILLS = (
    Fill("c1", "A", PUT.id, Side.SELL, 2, Decimal("5.00"), Decimal("1.30"), NOW, "f1"),
    Fill("c2", "A", PUT.id, Side.BUY, 1, Decimal("3.00"), Decimal("0.65"), NOW, "f2"),
)


def data_dir(tmp_path: Path) -> Path:
    journal = Journal(tmp_path / JOURNAL_FILE)
    journal.record_deposit("A", Decimal("100000"), 1)
    journal.record_settlement("A", "test fills", FILLS, NOW)
    journal.close()
    return tmp_path


def test_positions_json_is_one_parseable_document_with_the_books_fields(capsys, tmp_path):
    assert main(["positions", "--data-dir", str(data_dir(tmp_path)), "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one line: `| jq` or `json.loads` take it whole
    doc = json.loads(out)
    assert doc["journal"].endswith(JOURNAL_FILE) and doc["notes"] == [NO_QUOTE_OFFLINE]
    [line] = doc["lines"]
    assert (line["instrument_id"], line["quantity"], line["strike"], line["delta"]) == (PUT.id, -1, "250", None)
    assert abs(line["dte"] - 7.0) < 1e-9
    [a] = doc["accounts"]
    assert a["premium_collected"] == "700.00" and a["buying_power_used"] == "25000"
    assert (a["realized_gross"], a["commissions"], a["realized_net"]) == ("200.00", "1.95", "198.05")
    assert a["net_delta"] == {"TSLA": None} and a["at_cost"] == 1


def test_positions_tables_show_the_book_and_footnote_each_dash(capsys, tmp_path):
    assert main(["positions", "--data-dir", str(data_dir(tmp_path))]) == 0
    out = capsys.readouterr().out
    for text in (
        PUT.id, "underlying px", "theta/day", "premium collected", "700.00", "buying power used", "25,000.00",
        "realized P&L gross (before commissions)", "realized P&L net of commissions", "198.05", "return on deposits",
        "net delta TSLA (shares)", f"[1] {NO_QUOTE_OFFLINE}",
    ):  # fmt: skip
        assert text in out, text


def test_positions_on_a_missing_journal_is_one_line_naming_it(capsys, tmp_path):
    assert main(["positions", "--data-dir", str(tmp_path / "none"), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and f"{tmp_path}/none/{JOURNAL_FILE}" in err


def summary() -> RunSummary:
    ledger = Ledger(lambda iid: 100 if len(iid) > 6 else 1)
    ledger.deposit("A", Decimal("100000"))
    for f in FILLS:
        ledger.apply_fill(f)
    marks = {"TSLA": 260.0, PUT.id: 4.0}
    return RunSummary(
        journal_path=Path("/data/journal.db"), wall_seconds=1.5, sim_start="Mon", sim_end="Tue",
        quotes_accepted=10, quotes_rejected={"crossed": 1}, cache={"hits": 3}, orders_this_run={"FILLED": 2},
        orders_all_time=2, fills_this_run=2, settlements_this_run=0, commissions_this_run=Decimal("1.95"),
        book=build_book(ledger, FILLS, NOW, marks.get, 0.04), quality=QualitySummary(2, 1.5, None, 1.0, 0.0),
        risk_denials={}, execution={}, faults_injected={}, trading_states={"A": "ACTIVE"}, strategy={},
        recovered_orders=0, recovered_open_resolved=0, session=1, consistent=True, reproducible=False,
    )  # fmt: skip


def test_run_summary_as_json_is_one_document_with_the_book(capsys):
    _print_summary(summary(), as_json=True)
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    doc = json.loads(out)
    assert doc["commissions_this_run"] == "1.95" and doc["journal_path"] == "/data/journal.db"
    assert doc["quality"]["median_latency_ms"] is None and doc["consistent"] is True
    [line] = doc["book"]["lines"]
    assert line["delta"] > 0 and line["theta"] > 0 and line["mark"] == 4.0  # a short put
    assert doc["book"]["accounts"][0]["net_delta"]["TSLA"] == line["delta"]
    assert doc["book"]["notes"] == []


def test_run_summary_tables_show_greeks_and_both_realized_figures(capsys):
    _print_summary(summary())
    out = capsys.readouterr().out
    for text in ("positions as of", "accounts", "realized P&L gross", "realized P&L net of commissions", "700.00",
                 "25,000.00", "consistent"):  # fmt: skip
        assert text in out, text
    assert "[1]" not in out  # every figure is known: no footnotes
    assert "not reproducible" in out  # a wall-clock run says so


def test_run_takes_json():
    assert build_parser().parse_args(["run", "--json"]).json is True
    assert build_parser().parse_args(["run"]).json is False
