"""The operator's channel: what `alluse halt`/`reducing`/`resume` write, the running system reads once."""

import logging
from decimal import Decimal

import pytest

from alluse.app.operator import JOURNAL_FILE, SOURCE, Command, OperatorInbox, send
from alluse.execution.journal import Journal, JournalError
from alluse.model import InvalidInput, TradingState

ACCOUNTS = ("Gen-Acc", "Rev-Acc")


@pytest.fixture
def system_journal(tmp_path):
    """The running system's journal: its accounts deposited, held open while the operator writes."""
    journal = Journal(tmp_path / JOURNAL_FILE)
    for account in ACCOUNTS:
        journal.record_deposit(account, Decimal(100_000), 5)
    journal.flush()
    yield journal
    journal.close()


def events(journal):
    return [(e["account"], e["status"], e["detail"]) for e in journal.events() if e["kind"] == "TRADING_STATE"]


def test_commands_are_read_back_once_in_order_across_accounts(tmp_path, system_journal):
    inbox = OperatorInbox(system_journal, ACCOUNTS)
    sent = send(tmp_path, Command.HALT, "end of week", ["Gen-Acc"])
    sent += send(tmp_path, Command.REDUCING, "expiry day")  # every account, in name order
    assert [(c.account, c.state) for c in sent] == [
        ("Gen-Acc", TradingState.HALTED),
        ("Gen-Acc", TradingState.REDUCING),
        ("Rev-Acc", TradingState.REDUCING),
    ]
    assert inbox.read() == sent
    assert inbox.read() == []
    later = send(tmp_path, Command.RESUME, "monday", ["Rev-Acc"])
    assert inbox.read() == later and later[0].state is TradingState.ACTIVE
    assert later[0].reason.startswith("monday (operator, ") and later[0].reason.endswith(" UTC)")
    assert [c.seq for c in sent + later] == sorted(c.seq for c in sent + later)


def test_the_command_is_stamped_on_the_journals_clock_not_the_wall_clock(tmp_path, system_journal):
    system_journal.record_deposit("Gen-Acc", Decimal(1), 7_000)  # simulated time in a simulated run
    system_journal.flush()
    send(tmp_path, Command.HALT, "stop", ["Gen-Acc"])
    assert system_journal.events()[-1]["ts"] == 7_000


def test_a_command_journaled_before_the_inbox_was_made_is_not_read_again(tmp_path, system_journal):
    send(tmp_path, Command.HALT, "before the start", ["Gen-Acc"])  # seeded from the journal at start
    inbox = OperatorInbox(system_journal, ACCOUNTS)
    assert inbox.read() == []


def test_records_of_other_sources_are_not_operator_commands(tmp_path, system_journal):
    inbox = OperatorInbox(system_journal, ACCOUNTS)
    system_journal.record_trading_state("Gen-Acc", "HALTED", "daily loss 1,200.00 over 1,000.00", "risk", 9)
    system_journal.record_trading_state("Rev-Acc", "REDUCING", "cli: looks like one", "test", 9)
    system_journal.flush()
    sent = send(tmp_path, Command.RESUME, "checked", ["Rev-Acc"])
    assert inbox.read() == sent


def test_a_record_written_by_an_earlier_version_is_followed(tmp_path, system_journal):
    inbox = OperatorInbox(system_journal, ACCOUNTS)
    other = Journal(tmp_path / JOURNAL_FILE, intent_log=False)  # as earlier versions of `alluse halt` wrote it
    seq = other.record_trading_state("Rev-Acc", "HALTED", "operator (operator, 2026-01-02 10:00:00 UTC)", "cli", 9)
    other.close()
    [command] = inbox.read()
    assert (command.seq, command.account, command.state) == (seq, "Rev-Acc", TradingState.HALTED)
    assert command.reason == "operator (operator, 2026-01-02 10:00:00 UTC)" and SOURCE == "cli"


def test_an_account_the_system_does_not_trade_is_passed_over(tmp_path, system_journal, caplog):
    inbox = OperatorInbox(system_journal, ["Gen-Acc"])
    with caplog.at_level(logging.WARNING, logger="alluse.app.operator"):
        sent = send(tmp_path, Command.HALT, "stop")
        assert inbox.read() == [c for c in sent if c.account == "Gen-Acc"]
    assert "Rev-Acc ignored" in caplog.text


def test_an_unknown_account_is_refused_by_name_and_nothing_is_written(tmp_path, system_journal):
    before = events(system_journal)
    with pytest.raises(InvalidInput) as refused:
        send(tmp_path, Command.HALT, "stop", ["Gen-Acc", "Nobody"])
    assert str(refused.value) == "account='Nobody': not in this journal (known: Gen-Acc, Rev-Acc)"
    assert "\n" not in str(refused.value)
    assert events(system_journal) == before


def test_a_missing_journal_is_a_clear_error(tmp_path):
    with pytest.raises(JournalError, match=f"journal {tmp_path}/nothing/journal.db: no such file"):
        send(tmp_path / "nothing", Command.RESUME, "go")
    assert not (tmp_path / "nothing").exists()


def test_a_journal_without_accounts_is_a_clear_error(tmp_path):
    Journal(tmp_path / JOURNAL_FILE).close()
    with pytest.raises(JournalError, match="no accounts in it yet"):
        send(tmp_path, Command.HALT, "stop")


def test_each_command_puts_the_account_in_its_state():
    assert {c: c.state for c in Command} == {
        Command.HALT: TradingState.HALTED,
        Command.REDUCING: TradingState.REDUCING,
        Command.RESUME: TradingState.ACTIVE,
    }
