"""The operator's channel to a trading system: halt, reducing and resume, through the data dir's journal.

`alluse halt` runs in its own process, so it cannot call the running system. `send` records the
command as a TRADING_STATE event in the journal, under the source name `SOURCE`; the running system's
`OperatorInbox` reads the events journaled since its last look (about twice a second) and takes those
with that source as the operator's. A stopped system gets the command at its next start: it seeds the
accounts' states from the journal. Both sides live here so the source name and the event's format
have one definition.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from alluse.execution.journal import JOURNAL_FILE, Journal, JournalError
from alluse.model import InvalidInput, TradingState

log = logging.getLogger("alluse.app.operator")

SOURCE = "cli"  # the source of the operator's records; journals of earlier versions carry the same name


class Command(enum.Enum):
    """What the operator asks of an account, as the trading state it puts the account in."""

    HALT = TradingState.HALTED  # no new orders; working ones are cancelled
    REDUCING = TradingState.REDUCING  # only orders that close a position
    RESUME = TradingState.ACTIVE

    @property
    def state(self) -> TradingState:
        return self.value


@dataclass(slots=True, frozen=True)
class StateCommand:
    """One account's state set by the operator, as journaled (`seq` is the event's sequence number)."""

    seq: int
    account: str
    state: TradingState
    reason: str


def send(data_dir: Path, command: Command, reason: str, accounts: Sequence[str] = ()) -> list[StateCommand]:
    """Journal `command` for `accounts` (every account in the journal when empty); returns what it wrote.

    The accounts are checked before anything is written, so a bad one leaves the journal as it was.
    Each record is stamped on the journal's own clock (simulated time in a simulated run), so an
    operator's command never moves simulated time; the wall time goes into the reason."""
    path = data_dir / JOURNAL_FILE
    if not path.exists():
        raise JournalError(f"journal {path}: no such file (has the system run with --data-dir {data_dir}?)")
    journal = Journal(path, intent_log=False)  # a running system owns the intent log; this commits directly
    try:
        known = sorted(journal.load().deposits)
        if not known:
            raise JournalError(f"journal {path}: no accounts in it yet (has the system started on it?)")
        for account in accounts:
            if account not in known:
                raise InvalidInput("account", account, f"not in this journal (known: {', '.join(known)})")
        ts = journal.last_event_ts() or 0
        stamped = f"{reason} (operator, {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC)"
        return [
            StateCommand(
                journal.record_trading_state(account, command.state.value, stamped, SOURCE, ts),
                account,
                command.state,
                stamped,
            )
            for account in dict.fromkeys(accounts or known)  # each account once, in the order given
        ]
    finally:
        journal.close()


class OperatorInbox:
    """The operator's commands journaled since the last look, for a system trading `accounts`.

    It starts at the journal's end as it is when made: the system has seeded the states already in
    the journal (make the inbox before seeding, so a command landing in between is read again, which
    is harmless, rather than missed). Records of other sources (the loss limits, the system's own
    changes) are passed over, as are commands for accounts this system does not trade."""

    def __init__(self, journal: Journal, accounts: Iterable[str]) -> None:
        self.journal = journal
        self.accounts = frozenset(accounts)
        changes = journal.trading_state_changes(0)
        self.last_seq = changes[-1][0] if changes else 0

    def read(self) -> list[StateCommand]:
        """The new commands, oldest first; each is returned once."""
        commands = []
        for seq, account, state, detail in self.journal.trading_state_changes(self.last_seq):
            self.last_seq = seq
            source, _, reason = detail.partition(": ")  # as Journal.record_trading_state writes it
            if source != SOURCE:
                continue
            if account not in self.accounts:
                log.warning("operator's %s for %s ignored: not an account of this system", state, account)
                continue
            commands.append(StateCommand(seq, account, TradingState(state), reason))
        return commands
