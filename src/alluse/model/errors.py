"""Error classes: what to do about a failure, decided once.

- TRANSIENT (timeout, disconnect, pacing): retry with exponential backoff and jitter, bounded.
- PERMANENT (invalid instrument, insufficient funds, rejected by the venue or by risk): fail
  fast with the reason; resending cannot help.
- UNKNOWN (no answer in time, a disconnect while the order was in flight): the order may or
  may not be at the venue; ask the venue (status query), never resend blindly.
- THROTTLED (the venue refused for its request rate: IB's pacing): transient, and no fault of the
  order's: wait for the venue's window and send again, without using one of the order's attempts.

Brokers classify their own rejects (they know their error codes) and put the class on the
REJECTED event; the order manager classifies exceptions from broker calls. An exception that is not
a BrokerError (a bug, or a value the broker code could not handle) is UNKNOWN: it may have been
raised after the venue took the order, so only the venue can say.
"""

from __future__ import annotations

from typing import ClassVar

from alluse.model.base import FastEnum


class ErrorClass(FastEnum):
    TRANSIENT = "TRANSIENT"
    PERMANENT = "PERMANENT"
    UNKNOWN = "UNKNOWN"
    THROTTLED = "THROTTLED"


class BrokerError(Exception):
    """A failed broker call; `error_class` tells the caller what to do."""

    error_class: ClassVar[ErrorClass] = ErrorClass.UNKNOWN


class BrokerDisconnected(BrokerError):
    """The broker connection is down: the call did not reach the venue."""

    error_class: ClassVar[ErrorClass] = ErrorClass.TRANSIENT


class BrokerTimeout(BrokerError):
    """No answer in time: the request may or may not have reached the venue."""

    error_class: ClassVar[ErrorClass] = ErrorClass.UNKNOWN


def classify_exception(exc: BaseException) -> ErrorClass:
    if isinstance(exc, BrokerError):
        return exc.error_class
    return ErrorClass.UNKNOWN
