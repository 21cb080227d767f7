"""Where alert events go: the log, a JSON-lines file, an HTTP webhook, or a callback.

Each notifier fails on its own: it catches, logs and counts its failures (`failures`) and never
raises into the engine, so one broken channel neither silences the others nor reaches trading.
The webhook is the only one that can be slow; it delivers from a worker thread fed by a queue,
so `notify` only enqueues and the collector's evaluation never waits on the network.
"""

from __future__ import annotations

import http.client
import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from alluse.monitoring.alert_events import AlertEvent, AlertStatus
from alluse.monitoring.config import AlertsConfig

log = logging.getLogger("alluse.monitoring.notifiers")

LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}
MAX_BACKOFF_S = 30.0


class Notifier(Protocol):
    """`delivered` and `failures` are plain counts the engine exports; `name` labels them.
    A notifier counts its own failures and does not raise from `notify`."""

    name: str
    delivered: int
    failures: int

    def notify(self, event: AlertEvent) -> None: ...

    def close(self) -> None: ...


class NotifierError(Exception):
    """A notifier cannot be set up (raised at start, never while notifying)."""


class LogNotifier:
    """FIRING at the rule's severity (info, warning, critical); RESOLVED at info."""

    def __init__(self, name: str = "log", logger: logging.Logger | None = None) -> None:
        self.name = name
        self.delivered = 0
        self.failures = 0
        self._log = logger or logging.getLogger("alluse.monitoring.alerts")

    def notify(self, event: AlertEvent) -> None:
        level = LEVELS[event.severity] if event.state is AlertStatus.FIRING else logging.INFO
        self._log.log(level, "ALERT %s", event.summary())
        self.delivered += 1

    def close(self) -> None:
        pass


class FileNotifier:
    """One JSON object per line, appended; the file is opened per event (events are rare) so that
    rotating or deleting it is safe while a run writes it."""

    def __init__(self, path: str | Path, name: str = "file") -> None:
        self.name = name
        self.path = Path(path)
        self.delivered = 0
        self.failures = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise NotifierError(f"alert file {self.path}: cannot be written ({exc})") from None

    def notify(self, event: AlertEvent) -> None:
        line = json.dumps(event.to_dict(), allow_nan=False) + "\n"
        try:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)
        except OSError as exc:
            self.failures += 1
            log.error("alert file %s: could not write %s %s: %s", self.path, event.rule, event.state.value, exc)
            return
        self.delivered += 1

    def close(self) -> None:
        pass


class CallbackNotifier:
    """Hands each event to a function on the caller's thread (e.g. `alluse run` printing alerts)."""

    def __init__(self, fn: Callable[[AlertEvent], None], name: str = "callback") -> None:
        self.name = name
        self.delivered = 0
        self.failures = 0
        self._fn = fn

    def notify(self, event: AlertEvent) -> None:
        try:
            self._fn(event)
        except Exception:
            self.failures += 1
            log.exception("notifier %s failed on %s %s", self.name, event.rule, event.state.value)
            return
        self.delivered += 1

    def close(self) -> None:
        pass


class _Permanent(Exception):
    """An answer that a retry would only repeat (a 4xx other than 408/429)."""


class WebhookNotifier:
    """POSTs each event as JSON from a worker thread; up to `retries` more attempts after a timeout,
    a connection error or a 5xx/408/429, waiting `backoff_s`, then twice that, ... (capped).
    An event still undelivered is logged and counted. The queue is bounded: past `max_queue`
    waiting events a new one is dropped and counted rather than held without limit."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 2.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_queue: int = 1000,
        name: str = "webhook",
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise NotifierError(f"webhook url={url!r}: expected an http:// or https:// URL")
        if timeout_s <= 0 or retries < 0 or backoff_s < 0 or max_queue < 1:
            raise NotifierError(
                f"webhook timeout_s={timeout_s!r} retries={retries!r} backoff_s={backoff_s!r} "
                f"max_queue={max_queue!r}: timeout must be positive, the others not negative (queue at least 1)"
            )
        self.name = name
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_queue = max_queue
        self.delivered = 0
        self.failures = 0
        self.attempts = 0
        self._queue: queue.Queue[AlertEvent | None] = queue.Queue()  # None: stop
        self._pending = 0  # queued or in flight; guarded by _idle
        self._idle = threading.Condition()
        self._abort = threading.Event()  # close() gave up waiting: stop retrying
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"alluse-{name}", daemon=True)
        self._thread.start()

    def notify(self, event: AlertEvent) -> None:
        with self._idle:
            if self._closed or self._pending >= self.max_queue:
                self.failures += 1
                why = "closed" if self._closed else f"{self._pending} events already waiting"
                log.error("webhook %s: dropped %s %s (%s)", self.url, event.rule, event.state.value, why)
                return
            self._pending += 1
        self._queue.put(event)

    def flush(self, timeout_s: float) -> bool:
        """Wait until every queued event is delivered or given up; False if `timeout_s` ran out first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued (within `timeout_s`), then stop the worker."""
        with self._idle:
            if self._closed:
                return
            self._closed = True
        self._queue.put(None)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._abort.set()
            log.warning("webhook %s: %d events undelivered at close", self.url, self._pending)

    # ------------------------------------------------------------------ worker thread

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            ok = self._deliver(event)
            with self._idle:
                if ok:
                    self.delivered += 1
                else:
                    self.failures += 1
                self._pending -= 1
                self._idle.notify_all()

    def _deliver(self, event: AlertEvent) -> bool:
        body = json.dumps(event.to_dict(), allow_nan=False).encode()
        delay = self.backoff_s
        for attempt in range(1, self.retries + 2):
            if self._abort.is_set():
                reason = "closing"
                break
            try:
                self._post(body)
                return True
            except _Permanent as exc:
                reason = str(exc)
                break
            except (OSError, http.client.HTTPException) as exc:  # timeouts, refused, reset, 5xx
                reason = str(exc) or type(exc).__name__
                if attempt <= self.retries:
                    log.warning(
                        "webhook %s: attempt %d failed (%s); retrying in %.2f s", self.url, attempt, reason, delay
                    )
                    self._abort.wait(delay)
                    delay = min(delay * 2, MAX_BACKOFF_S)
        log.error(
            "webhook %s: %s %s not delivered after %d attempt(s): %s",
            self.url,
            event.rule,
            event.state.value,
            attempt,
            reason,
        )
        return False

    def _post(self, body: bytes) -> None:
        self.attempts += 1
        req = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "alluse-alerts"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                raise _Permanent(f"HTTP {exc.code} {exc.reason}") from None
            raise OSError(f"HTTP {exc.code} {exc.reason}") from None


def build_notifiers(cfg: AlertsConfig, data_dir: Path) -> list[Notifier]:
    """The notifiers `[alerts]` asks for; a relative file path lands in the data dir."""
    notifiers: list[Notifier] = []
    if cfg.log:
        notifiers.append(LogNotifier())
    if cfg.file is not None:
        notifiers.append(FileNotifier(data_dir / cfg.file))
    if cfg.webhook_url is not None:
        notifiers.append(
            WebhookNotifier(
                cfg.webhook_url,
                timeout_s=cfg.webhook_timeout_s,
                retries=cfg.webhook_retries,
                backoff_s=cfg.webhook_backoff_s,
            )
        )
    return notifiers
