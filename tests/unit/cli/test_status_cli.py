"""`alluse status` and `alluse --version`, in-process on data dirs written through the stores' APIs
(data_dirs.py): the JSON document carries each account's trading state, open orders, positions and P&L, the last
session and how it ended, and the connection as last sampled; the tables say the same; a missing journal is one
line."""

import importlib.metadata
from datetime import datetime

import pytest
from data_dirs import PUT, strict_json, write_data_dir, write_journal

import alluse.build
from alluse.app.options_book import book_from_journal
from alluse.app.status import NOT_JOURNALED, journal_in_use
from alluse.cli import main
from alluse.cli.version import version_line
from alluse.common.clock import ns_to_datetime
from alluse.execution.journal import JOURNAL_FILE, Journal


def iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def status_json(capsys, data_dir) -> dict:
    assert main(["status", "--data-dir", str(data_dir), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return strict_json(out)


def test_status_json_carries_states_orders_pnl_session_connection_and_alerts(capsys, tmp_path):
    w = write_data_dir(tmp_path)
    doc = status_json(capsys, tmp_path)
    assert doc["source"] == "journal" and doc["data_dir"] == str(tmp_path)

    gen, rev = doc["accounts"]
    assert (gen["account"], gen["trading_state"], gen["state_source"], gen["state_reason"]) == (
        "Gen-Acc", "HALTED", "cli", "end of week")  # fmt: skip
    assert gen["state_since_ns"] == w.halted_at and iso(gen["state_since"]) == ns_to_datetime(w.halted_at)
    assert (rev["trading_state"], rev["state_source"], rev["state_since"]) == ("ACTIVE", None, None)
    assert (gen["open_orders"], rev["open_orders"]) == (0, 1)

    # P&L as `alluse positions` computes it from the same journal, money as exact strings
    book = book_from_journal(tmp_path / JOURNAL_FILE)
    for account, figures in zip(book.accounts, (gen, rev), strict=True):
        assert figures["positions"] == sum(x.account == account.account for x in book.lines)
        assert figures["fills"] == account.fills
        for field, value in (("cash_usd", account.cash), ("equity_usd", account.equity),
                             ("realized_net_usd", account.realized_net), ("deposits_usd", account.deposits),
                             ("premium_collected_usd", account.premium_collected)):  # fmt: skip
            assert figures[field] == str(value), field
    [position] = doc["positions"]
    assert (position["instrument_id"], position["quantity"], position["strike"]) == (PUT.id, -2, "250")

    [order] = doc["open_orders"]
    o = w.open_order
    assert (order["client_order_id"], order["status"]) == (o.client_order_id, "ACCEPTED")
    assert order["instrument_id"] == o.instrument_id
    assert "  " in order["instrument_id"]  # the full OCC symbol, its padding kept
    assert order["created_ns"] == o.ts_created and iso(order["created"]) == ns_to_datetime(o.ts_created)
    assert order["updated_ns"] == o.ts_last and order["limit_price"] == str(o.limit_price)

    session = doc["last_session"]
    assert (session["number"], session["running"], session["ended_cleanly"]) == (1, False, True)
    assert session["ended_ns"] == w.ended_at and doc["sessions"] == 1

    connection = doc["connection"]
    assert (connection["broker"], connection["connected"]) == ("paper", False)
    assert connection["at_ns"] == w.disconnected_at and iso(connection["at"]) == ns_to_datetime(w.disconnected_at)
    assert doc["firing_alerts"] == ["broker_disconnected"]  # quote_stale fired and resolved
    assert doc["as_of_ns"] == book.as_of_ns


def test_a_session_without_its_end_reads_as_crashed_running_or_unknown(capsys, tmp_path):
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    write_journal(crashed, end=False)
    session = status_json(capsys, crashed)["last_session"]
    assert (session["ended"], session["running"], session["ended_cleanly"]) == (None, False, False)

    running = Journal(crashed / JOURNAL_FILE)  # a writer holding the intent log, as `alluse run` does
    try:
        assert journal_in_use(crashed / JOURNAL_FILE) is True
        session = status_json(capsys, crashed)["last_session"]
        assert (session["running"], session["ended_cleanly"]) == (True, None)
    finally:
        running.close()
    assert journal_in_use(crashed / JOURNAL_FILE) is False

    no_log = tmp_path / "no-log"
    no_log.mkdir()
    write_journal(no_log, end=False, intent_log=False)
    assert not (no_log / f"{JOURNAL_FILE}-intents").exists()
    session = status_json(capsys, no_log)["last_session"]
    assert (session["running"], session["ended_cleanly"]) == (None, None)


def test_status_without_metrics_or_alerts_says_what_it_cannot_know(capsys, tmp_path):
    write_journal(tmp_path)
    doc = status_json(capsys, tmp_path)
    c = doc["connection"]
    assert (c["broker"], c["connected"], c["at"], c["source"]) == (None, None, None, None)
    assert NOT_JOURNALED in c["note"] and "metrics.db" in c["note"]
    assert doc["firing_alerts"] is None and any("alerts.db" in n for n in doc["notes"])


def test_status_on_a_journal_with_no_session_yet(capsys, tmp_path):
    journal = Journal(tmp_path / JOURNAL_FILE)
    journal.close()
    doc = status_json(capsys, tmp_path)
    assert (doc["last_session"], doc["sessions"], doc["accounts"], doc["open_orders"]) == (None, 0, [], [])


def test_status_tables_say_the_same(capsys, tmp_path):
    w = write_data_dir(tmp_path)
    assert main(["status", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for text in ("HALTED", "ACTIVE", "ended cleanly", "paper DISCONNECTED", NOT_JOURNALED,
                 "alerts firing: broker_disconnected", "open orders", w.open_order.instrument_id,
                 f"{ns_to_datetime(w.open_order.ts_created):%Y-%m-%d %H:%M:%S}", "cli", "end of week"):  # fmt: skip
        assert text in out, text
    assert "…" not in out


def test_status_of_a_dir_without_a_journal_is_one_line_naming_it(capsys, tmp_path):
    for argv in (["status"], ["status", "--json"]):
        assert main([*argv, "--data-dir", str(tmp_path / "none")]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and f"{tmp_path}/none/{JOURNAL_FILE}" in err


def test_version_prints_the_package_version_and_the_build_and_exits_0(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out == version_line() + "\n"
    assert importlib.metadata.version("alluse") in out and alluse.build.describe() in out
