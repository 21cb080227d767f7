"""Monitoring assembled for a running system: collector -> store and alert engine; exporter -> HTTP.

The trading components only keep plain counters (their `metrics()`); everything here reads them
on the collector's wall-clock tick or at scrape time. Blocking work stays off the loop: the store
writes on its own thread, the webhook notifier too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from alluse.common.metrics import MetricSource
from alluse.monitoring import series
from alluse.monitoring.alert_events import AlertEvent
from alluse.monitoring.alert_history import ALERTS_FILE, AlertHistory
from alluse.monitoring.alert_rules import rules_from_config, validate_rules
from alluse.monitoring.alerts import AlertEngine
from alluse.monitoring.collector import DERIVED_SERIES, Collector, series_of
from alluse.monitoring.config import AlertsConfig, MonitoringConfig
from alluse.monitoring.exporter import PrometheusExporter
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
    ) -> None:
        mc = self.config = config
        resources = ResourceSampler(data_dir)
        rules = rules_from_config(alerts)
        if not mc.store:  # nothing to watch
            rules = [r for r in rules if r.metric != series.METRICS_STORE_HEALTHY]
        known = known_series([*sources, resources]) | ({series.METRICS_STORE_HEALTHY} if mc.store else set())
        validate_rules(rules, known)
        notifiers = build_notifiers(alerts, data_dir)
        if on_alert is not None:
            notifiers.append(CallbackNotifier(on_alert, name="console"))
        self.notifiers = notifiers
        self.history = AlertHistory(data_dir / ALERTS_FILE)
        self.alerts = AlertEngine(rules, notifiers, self.history, now_ns=time.time_ns)
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
            on_values=self.alerts.evaluate,
            loss_limit_used=loss_limit_used,
            error_window_s=mc.error_window_s,
            error_min_orders=mc.error_min_orders,
        )
        # not the resource sampler: reading it moves its CPU baseline, which belongs to the collector's tick
        self.exporter = PrometheusExporter([*sources, *own, self.alerts, self.collector])
        self.server = MetricsServer(self.exporter, health)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        port, host = self.config.metrics_port, self.config.metrics_host
        if port is not None:
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
