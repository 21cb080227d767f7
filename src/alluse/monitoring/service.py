"""Monitoring assembled for a running system: collector -> store and alert engine; exporter -> HTTP.

The trading components only keep plain counters (their `metrics()`); everything here reads them
on the collector's wall-clock tick or at scrape time. Blocking work stays off the loop: the store
writes on its own thread, the webhook notifier too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alluse.common.metrics import Metric, MetricSource, gauge
from alluse.monitoring import series
from alluse.monitoring.alert_events import AlertEvent
from alluse.monitoring.alert_history import ALERTS_FILE, AlertHistory
from alluse.monitoring.alert_rules import (
    anomaly_rules_from_config,
    predictive_rules_from_config,
    run_rules,
    validate_rules,
)
from alluse.monitoring.alerts import AlertEngine
from alluse.monitoring.collector import DERIVED_SERIES, Collector, series_of
from alluse.monitoring.config import AlertsConfig, MonitoringConfig
from alluse.monitoring.exporter import PrometheusExporter, ReadingsView
from alluse.monitoring.foresight import Foresight
from alluse.monitoring.http import MetricsServer
from alluse.monitoring.notifiers import CallbackNotifier, build_notifiers
from alluse.monitoring.resources import ResourceSampler
from alluse.monitoring.store import METRICS_FILE, MetricsStore

log = logging.getLogger("alluse.monitoring.service")


def known_series(sources: Iterable[MetricSource]) -> set[str]:
    """Every series the collector will produce from these sources (rules are checked against it)."""
    known = {*DERIVED_SERIES, series.PROCESS_CPU_PERCENT}  # CPU % needs a previous reading to exist
    for source in sources:
        for m in source.metrics():
            known.update(series_of(m))
    return known


@dataclass(slots=True, frozen=True)
class MarketSession:
    """`alluse_market_open`: whether the market is in session, stored and exported, so a Prometheus rule can hold
    a feed rule to the session as this process's engine does."""

    is_open: Callable[[], bool]

    def metrics(self) -> Iterator[Metric]:
        yield gauge(series.MARKET_OPEN, "1 while the market is in session (trading clock)", 1 if self.is_open() else 0)


class Monitoring:
    def __init__(
        self,
        config: MonitoringConfig,
        alerts: AlertsConfig,
        data_dir: Path,
        sources: list[MetricSource],
        health: Callable[[], Mapping[str, Any]],
        loss_limit_used: Callable[[], float | None],
        on_alert: Callable[[AlertEvent], None] | None = None,
        market_open: Callable[[], bool] | None = None,
    ) -> None:
        mc = self.config = config
        resources = ResourceSampler(data_dir)
        rules = run_rules(alerts, mc.store)
        if market_open is not None:
            sources = [*sources, MarketSession(market_open)]
        known = known_series([*sources, resources]) | ({series.METRICS_STORE_HEALTHY} if mc.store else set())
        predictive, anomaly = predictive_rules_from_config(alerts, rules), anomaly_rules_from_config(alerts)
        validate_rules([*rules, *predictive, *anomaly], known)  # the two watch a known series, and derive their own
        self.foresight = Foresight(predictive, anomaly)
        # each tick's values with the forecasts and anomaly scores derived from them, after the alerts saw them
        self.value_listeners: list[Callable[[dict[str, float], int], object]] = []
        notifiers = build_notifiers(alerts, data_dir)
        if on_alert is not None:
            notifiers.append(CallbackNotifier(on_alert, name="console"))
        self.notifiers = notifiers
        self.history = AlertHistory(data_dir / ALERTS_FILE)
        self.alerts = AlertEngine(
            [*rules, *self.foresight.rules()], notifiers, self.history, now_ns=time.time_ns, market_open=market_open
        )
        # last: the store starts a writer thread, which nothing above may leave running on an error
        self.store = (
            MetricsStore(data_dir / METRICS_FILE, retention_s=mc.retention_s, batch_max=mc.store_batch_max)
            if mc.store
            else None
        )
        own = [s for s in (self.store,) if s is not None]
        self.collector = Collector(
            [*sources, *own, self.alerts],
            interval_s=mc.interval_s,
            resources=resources,
            on_samples=self.store.submit if self.store is not None else None,
            on_values=self._evaluate,
            loss_limit_used=loss_limit_used,
            window_s=mc.window_s,
            min_orders=mc.min_orders,
            min_observations=mc.min_observations,
        )
        # the resource sampler's last readings, not the sampler: reading it moves its CPU baseline, which belongs
        # to the collector's tick
        last_tick = [ReadingsView(resources.last_readings), ReadingsView(self.collector.derived_readings)]
        self.exporter = PrometheusExporter([*sources, *own, self.alerts, self.collector, *last_tick])
        self.server = MetricsServer(self.exporter, health)

    def _evaluate(self, values: dict[str, float], now_ns: int) -> list[AlertEvent]:
        """The collector's values, and the forecasts and anomaly scores derived from them, to the alert engine;
        then to whoever listens (the API's live stream); a listener that raises is logged and the others still hear."""
        derived, notes = self.foresight.derive(values, now_ns)
        events = self.alerts.evaluate(derived, now_ns, notes)
        for listener in self.value_listeners:
            try:
                listener(derived, now_ns)
            except Exception:
                log.exception("value listener %r failed", listener)
        return events

    async def start(self, serve_http: bool = True) -> None:
        """`serve_http=False`: another server (the REST API, rpc/) serves /metrics and /health on the port."""
        loop = asyncio.get_running_loop()
        port, host = self.config.metrics_port, self.config.metrics_host
        if port is not None and serve_http:
            await self.server.start(host, port)
            log.info("metrics on http://%s:%d/metrics", host, self.server.port)
        self.collector.start(loop)

    async def stop(self) -> None:
        """Blocking parts (webhook delivery, the store's last batches) finish on threads, off the loop."""
        self.collector.stop()
        self.alerts.close_all("run stopped")  # before the notifiers and the history close
        await self.server.stop()
        for n in self.notifiers:
            await asyncio.to_thread(n.close)
        if self.store is not None:
            await asyncio.to_thread(self.store.close)
        self.history.close()
