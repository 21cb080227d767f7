"""An agent: a process that runs the strategy, the risk gate and the ledger for the accounts the assignment
table gives it (cluster/assignment.py), trading through the cluster (cluster/agent_broker.py) on the quotes
the gateway publishes (cluster/quotes.py). It keeps nothing of its own: its trading system is built afresh
whenever its set of accounts changes, on a scratch journal, and rebuilt from PostgreSQL by the kernel's own
start-up (recovery reconciles the empty journal with the cluster: every order and fill of its accounts is read
back). Kill one, and when its heartbeat lapses the others take its accounts and rebuild them the same way.

Trading states (a halt) follow an account from agent to agent through PostgreSQL (cluster/states.py). Wheel
phases stay in the scratch journal; the next agent reads them again from the positions."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from alluse.app.system import TradingSystem
from alluse.cluster import assignment, records, states
from alluse.cluster.agent_broker import ClusterBroker
from alluse.cluster.assignment import AgentFenced, Tenure
from alluse.cluster.config import ClusterFileConfig
from alluse.cluster.probe import pause_state
from alluse.cluster.quotes import RedisQuoteFeed
from alluse.cluster.tasks import wait_or_stop
from alluse.common.clock import LiveClock
from alluse.model import TradingState
from alluse.model.registry import InstrumentRegistry
from alluse.risk.states import StateChangeHandler

log = logging.getLogger("alluse.cluster.agent")

STATES_SOURCE = "cluster"  # a trading state applied from the table (cluster/states.py), not written back


@dataclass(slots=True)
class AgentCounts:
    tenures: int = 0  # joins: the first, and one after every lapse
    rebuilds: int = 0  # trading systems built (the set of accounts changed)
    pauses: int = 0
    orders_committed: int = 0  # over every trading system this agent ran
    refused_not_owner: int = 0


def config_for(config: ClusterFileConfig, accounts: list[str]) -> ClusterFileConfig:
    """The configuration narrowed to `accounts` (their sleeves and risk overrides kept; others dropped)."""
    sleeves = [s for s in config.strategy.sleeves if s.account in accounts]
    return config.model_copy(update={
        "accounts": {a: config.accounts[a] for a in accounts},
        "strategy": config.strategy.model_copy(update={"sleeves": sleeves}),
        "risk": config.risk.model_copy(update={"accounts": {a: r for a, r in config.risk.accounts.items()
                                                            if a in accounts}}),
    })  # fmt: skip


class AgentService:
    def __init__(self, config: ClusterFileConfig, pool: asyncpg.Pool, redis: aioredis.Redis, name: str,
                 clock: LiveClock, scratch: Path | None = None) -> None:  # fmt: skip
        self.config = config
        self.pool = pool
        self.redis = redis
        self.name = name
        self.clock = clock
        self.scratch = scratch  # where the scratch journals go (default: the system's temp dir)
        self.counts = AgentCounts()
        self.state = "starting"
        self.accounts: list[str] = []
        self.silent_agents: list[str] = []  # others that stopped beating without leaving, at the last heartbeat
        self.system: TradingSystem | None = None
        self._broker: ClusterBroker | None = None
        self._data_dir: Path | None = None
        self._seen: dict[str, int] = {}  # account -> the trading-state version applied (cluster/states.py)
        self._to_store: list[tuple[str, TradingState, str, str]] = []  # changes our risk gate made, to write

    async def run(self, stop: asyncio.Event) -> None:
        """Join, trade the assigned accounts, join again if the tenure lapsed; until `stop`, then leave (the
        accounts are free at once)."""
        async with self.pool.acquire() as conn:
            await records.register_accounts(conn, self.config.cluster.login, sorted(self.config.accounts))
        while not stop.is_set():
            try:
                async with self.pool.acquire() as conn:
                    tenure = await assignment.join(conn, self.name)
                self.counts.tenures += 1
                await self._serve(tenure, stop)
            except AgentFenced as exc:
                self.state = "fenced: joining again"
                log.error("%s: %s", self.name, exc)
            except Exception as exc:  # never a dead agent: named, its trading stopped, then joining again
                self.counts.pauses += 1
                self.state, own_error = await pause_state(self.pool, self.redis, exc)
                log.error("%s %s (%s: %s)", self.name, self.state, type(exc).__name__, exc,
                          exc_info=exc if own_error else None)  # fmt: skip
                await wait_or_stop(stop, self.config.cluster.heartbeat_every_s)

    async def _serve(self, tenure: Tenure, stop: asyncio.Event) -> None:
        c = self.config.cluster
        try:
            while not stop.is_set():
                async with self.pool.acquire() as conn:
                    await assignment.heartbeat(conn, tenure, c.agent_timeout_s)
                    accounts = await assignment.rebalance(conn, tenure, c.login, c.agent_timeout_s)
                    self.silent_agents = await assignment.silent_agents(conn, c.agent_timeout_s)
                if accounts != self.accounts or (accounts and self.system is None):
                    await self._rebuild(tenure, accounts)
                else:
                    await self._sync_states()
                if self._broker is not None and self._broker.fenced:
                    raise AgentFenced(f"agent {self.name}: an account moved while this tenure traded it")
                self.state = f"trading {len(self.accounts)} accounts"
                await wait_or_stop(stop, c.heartbeat_every_s)
        finally:
            await self._shutdown()
        async with self.pool.acquire() as conn:
            await assignment.leave(conn, tenure)
        self.state = "stopped"

    async def _rebuild(self, tenure: Tenure, accounts: list[str]) -> None:
        """A trading system for exactly `accounts`, its book read back from PostgreSQL by recovery."""
        await self._shutdown()
        known = [a for a in accounts if a in self.config.accounts]
        if len(known) < len(accounts):
            log.error("%s: accounts %s are not in this agent's [accounts]; left untraded", self.name,
                      ", ".join(sorted(set(accounts) - set(known))))  # fmt: skip
        self.accounts = accounts
        if not known:
            return
        config = config_for(self.config, known)
        starting_cash = {a: config.accounts[a].cash for a in known}
        broker = ClusterBroker(self.pool, self.redis, config.cluster.login, tenure, starting_cash,
                               InstrumentRegistry(), self.clock, config.cluster.events_maxlen)  # fmt: skip
        underlyings = sorted({u for s in config.strategy.sleeves for u in s.underlyings})
        feed = RedisQuoteFeed(self.redis, config.cluster.login, underlyings, self.clock)
        self._data_dir = Path(tempfile.mkdtemp(prefix=f"alluse-agent-{self.name}-", dir=self.scratch))
        system = TradingSystem(config, self.clock, self._data_dir, feed=feed, broker=broker)
        feed.registry = system.c.registry  # quotes register their instruments where its data engine looks
        # client order ids unique across the cluster: the scratch journal starts at session 1 every time, so the
        # tenure's epoch (from a sequence) and this build's number go in front
        system.c.oms.id_prefix = f"A{tenure.epoch}r{self.counts.rebuilds + 1}-"
        self._broker = broker
        try:
            await system.c.connect()
            async with self.pool.acquire() as conn:
                stored = await states.states_of(conn, known)
            for account, found in stored.items():  # a halt follows its account: in force before anything trades
                system.c.states.seed(account, found.state, f"{found.reason} ({found.source})")
            self._seen = {a: found.version for a, found in stored.items()}
            self._to_store = []
            system.c.states.on_change = self._stored_too(system.c.states.on_change)
            recovery = system.start()
        except BaseException:
            system.close()
            self._broker = None
            raise
        self.system = system
        self.counts.rebuilds += 1
        log.info("%s: trading %d accounts (%s to %s): %d working orders and %d fills read back", self.name,
                 len(known), known[0], known[-1], len(recovery.reconcile.adopted),
                 recovery.reconcile.fills_applied)  # fmt: skip

    def loss_limit_used(self) -> float | None:
        """The worst account's share of its daily loss limit, while trading (the collector's derived series)."""
        return None if self.system is None else self.system.loss_limit_used()

    def market_open(self) -> bool:
        """In session on the cluster's clock (the feed's alert rules sleep outside it); no system: no feed to judge."""
        return self.system is None or self.system.market_open()

    def _stored_too(self, on_change: StateChangeHandler | None) -> StateChangeHandler:
        """The kernel's listener (journal, cancel on a halt), then the change queued for the table, unless the
        table is where it came from."""

        def changed(account: str, old: TradingState, new: TradingState, reason: str, source: str) -> None:
            if on_change is not None:
                on_change(account, old, new, reason, source)
            if source != STATES_SOURCE:
                self._to_store.append((account, new, reason, source))

        return changed

    async def _sync_states(self) -> None:
        """Write the changes our risk gate made, then apply those made elsewhere (an operator, an earlier
        agent) that this system has not seen."""
        system = self.system
        if system is None:
            return
        async with self.pool.acquire() as conn:
            while self._to_store:
                account, state, reason, source = self._to_store[0]
                self._seen[account] = await states.set_state(conn, account, state, reason, source)
                self._to_store.pop(0)
            stored = await states.states_of(conn, self.accounts)
        for account, found in stored.items():
            if found.version > self._seen.get(account, 0) and account in system.c.states.accounts:
                self._seen[account] = found.version
                system.c.states.set(account, found.state, f"{found.reason} ({found.source})", STATES_SOURCE)

    async def _shutdown(self) -> None:
        """Stop deciding and let queued orders commit; working orders stay at the broker for the next owner."""
        system, broker = self.system, self._broker
        self.system = self._broker = None
        if system is not None:
            try:
                system.stop_decisions()
                if broker is not None:
                    self.counts.orders_committed += broker.committed
                    self.counts.refused_not_owner += broker.refused_not_owner
                    await broker.stop()
            finally:
                system.close()
        if self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None
