"""The API's answers, read from the running system on its loop, one request at a time (the components are not
thread-safe and need not be: uvicorn runs on the same loop). Fills are kept here as they are booked, so no
request reads the journal."""

from __future__ import annotations

import importlib.metadata

from alluse import build
from alluse.app.options_book import OptionsBook, build_book, read_journal
from alluse.app.order_view import OrderView
from alluse.app.system import TradingSystem
from alluse.common.bus import TOPIC_FILL
from alluse.common.clock import ns_to_datetime
from alluse.model import Fill
from alluse.monitoring.alert_events import AlertStatus
from alluse.monitoring.series import kind_of
from alluse.rpc.models import (
    AccountOut,
    AlertRuleOut,
    ConnectionOut,
    FillOut,
    MarketDataOut,
    PositionOut,
    StatusOut,
)

VERSION = importlib.metadata.version("alluse")


class SystemViews:
    """Everything the API shows of one running system. `attach` before the system trades (it follows the fills)."""

    def __init__(self, system: TradingSystem) -> None:
        self.system = system
        self.fills: list[Fill] = []
        self._build = build.describe()

    def attach(self) -> None:
        """The journal's fills so far, then each fill as the order manager books it."""
        self.fills = list(read_journal(self.system.journal_path)[0].fills)
        self.system.c.bus.subscribe(TOPIC_FILL, self.fills.append)

    # ------------------------------------------------------------------ the book

    def book(self) -> OptionsBook:
        s, c = self.system, self.system.c
        return build_book(c.ledger, self.fills, s.clock.now_ns(), s.mark, c.chains.rate, c.chains.greeks_for)

    def accounts(self) -> list[AccountOut]:
        c = self.system.c
        open_orders = c.oms.open_orders()
        return [
            AccountOut(account=a.account, trading_state=c.risk.states.get(a.account).value, equity_usd=a.equity,
                       cash_usd=a.cash, buying_power_used_usd=a.buying_power_used, realized_net_usd=a.realized_net,
                       unrealized_usd=a.unrealized, return_on_deposits=a.return_on_deposits,
                       open_orders=sum(o.account == a.account for o in open_orders), fills=a.fills)  # fmt: skip
            for a in self.book().accounts
        ]

    def positions(self) -> list[PositionOut]:
        return [
            PositionOut(account=x.account, instrument_id=x.instrument_id, underlying=x.underlying, right=x.right,
                        strike=x.strike, expiry=None if x.expiry is None else x.expiry.isoformat(), dte=x.dte,
                        quantity=x.quantity, avg_cost=x.avg_cost, mark=x.mark, iv=x.iv, delta=x.delta, theta=x.theta,
                        unrealized_usd=x.unrealized, note=x.note)  # fmt: skip
            for x in self.book().lines
        ]

    # ------------------------------------------------------------------ orders and fills

    def orders(self, open_only: bool, limit: int) -> list[OrderView]:
        """Newest first; `limit` 0 is all."""
        oms = self.system.c.oms
        orders = oms.open_orders() if open_only else list(oms.orders.values())
        orders.sort(key=lambda o: (o.ts_last, o.client_order_id), reverse=True)
        return [OrderView.of(o) for o in (orders[:limit] if limit else orders)]

    def fills_out(self, limit: int) -> list[FillOut]:
        """Newest first; `limit` 0 is all."""
        newest = self.fills[::-1]
        return [fill_out(f) for f in (newest[:limit] if limit else newest)]

    # ------------------------------------------------------------------ alerts, data, connection, status

    def alerts(self) -> list[AlertRuleOut]:
        monitoring = self.system.monitoring
        if monitoring is None:
            return []
        blind = set(monitoring.alerts.insufficient_data)
        out = []
        for st in monitoring.alerts.states():
            r = st.rule
            status = AlertStatus.INACTIVE if st.status is AlertStatus.RESOLVED else st.status
            out.append(AlertRuleOut(
                rule=r.name, kind=kind_of(r.metric), severity=r.severity, status=status.value, metric=r.metric,
                condition=f"{r.metric} {r.comparison} {r.threshold:g} for {r.for_s:g} s", value=st.value,
                since=None if st.since_ns is None else ns_to_datetime(st.since_ns), insufficient_data=r.name in blind,
            ))  # fmt: skip
        return out

    def market_data(self) -> MarketDataOut:
        s, c = self.system, self.system.c
        cache: dict[str, float | int | None] = dict(c.cache.snapshot())
        reads = c.cache.hits + c.cache.misses + c.cache.stale_reads
        cache["hit_ratio"] = c.cache.hits / reads if reads else None
        feed = getattr(c.broker, "market_data", None)
        lines = None if feed is None else {"in_use": feed.lines.in_use, "budget": feed.lines.budget}
        return MarketDataOut(market_open=s.market_open(), quotes_accepted=c.engine.accepted,
                             quotes_rejected={r.value: n for r, n in c.engine.rejected.items() if n},
                             last_quote_age_s=s.health()["last_quote_age_s"], cache=cache, lines=lines)  # fmt: skip

    def connection(self) -> ConnectionOut:
        h = self.system.health()
        return ConnectionOut(broker=h["broker"]["name"], connected=h["broker_connected"], ready=h["ready"],
                             not_ready=h["not_ready"], detail=h["broker"])  # fmt: skip

    def status(self) -> StatusOut:
        s, c = self.system, self.system.c
        h = s.health()
        return StatusOut(
            ready=h["ready"], data_dir=str(s.journal_path.parent.resolve()), version=VERSION, build=self._build,
            clock=ns_to_datetime(s.clock.now_ns()),
            speed=float(getattr(s.clock, "speed", 1.0)), session=s.recovery.session if s.recovery else 0,
            trading_states=h["trading_states"], open_orders=len(c.oms.open_orders()), fills=len(self.fills),
            firing_alerts=h["firing_alerts"],
        )  # fmt: skip


def fill_out(f: Fill) -> FillOut:
    return FillOut(client_order_id=f.client_order_id, execution_id=f.fill_id, account=f.account,
                   instrument_id=f.instrument_id, side=f.side.value, quantity=f.quantity, price=f.price,
                   commission_usd=f.commission, time=ns_to_datetime(f.ts_event), ts_ns=f.ts_event)  # fmt: skip
