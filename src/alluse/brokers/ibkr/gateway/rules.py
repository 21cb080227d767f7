"""IB's limits, enforced as IB enforces them: messages per second per client, market-data lines per login,
API clients per login. Each answers with the error code and text IB uses, so an adapter that would trip
one in production trips it here first."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

# error codes and texts as TWS sends them
PACING_CODE = 100
PACING_TEXT = "Max rate of messages per second has been exceeded:max={limit} rec={count} (3)"
LINES_CODE = 101
LINES_TEXT = "Max number of tickers has been reached"
DUPLICATE_CLIENT_CODE = 326
DUPLICATE_CLIENT_TEXT = "Unable to connect as the client id is already in use. Retry with a unique client id."
TOO_MANY_CLIENTS_CODE = 502
TOO_MANY_CLIENTS_TEXT = "Couldn't connect to TWS. The maximum number of API clients ({limit}) is connected."
DUPLICATE_ORDER_CODE = 103
DUPLICATE_ORDER_TEXT = "Duplicate order id"
NO_SECURITY_CODE = 200
NO_SECURITY_TEXT = "No security definition has been found for the request"
REJECT_CODE = 201
REJECT_TEXT = "Order rejected - reason:{reason}"
CANCELLED_CODE = 202
CANCELLED_TEXT = "Order Canceled - reason:{reason}"
CANNOT_CANCEL_CODE = 10148
CANNOT_CANCEL_TEXT = "OrderId {order_id} that needs to be cancelled cannot be cancelled, state: {state}."
VALIDATION_CODE = 321
VALIDATION_TEXT = "Error validating request.-'{field}' : cause - {why}"
DUPLICATE_TICKER_CODE = 322
DUPLICATE_TICKER_TEXT = "Error processing request.-'Duplicate ticker id'"


@dataclass(slots=True, frozen=True)
class Refusal:
    """A connection refused at startApi: the error to send before closing."""

    code: int
    text: str


@dataclass(slots=True, frozen=True)
class Limits:
    messages_per_second: int = 50
    market_data_lines: int = 100
    max_clients: int = 32


class MessagePacer:
    """Counts a client's incoming messages over the last second (wall time, as IB counts them)."""

    __slots__ = ("_limit", "_times")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._times: deque[float] = deque()

    def admit(self, now_s: float) -> int | None:
        """Record a message; the count in the window when it is past the limit, else None."""
        times = self._times
        times.append(now_s)
        while times and now_s - times[0] >= 1.0:
            times.popleft()
        return len(times) if len(times) > self._limit else None
