"""The simulated market's state on disk (`market.json` in the data dir), so a restart continues the market.

Written atomically (a temporary file renamed over the old one) at every session close and at a clean stop;
after `kill -9` the market continues from the last close it saw. A file that cannot be read is reported and
the market starts from the config (it is a simulation's state, not the book: nothing of the book is in it).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("alluse.market_state")

MARKET_STATE_FILE = "market.json"


def load_market_state(data_dir: Path) -> dict[str, Any] | None:
    path = data_dir / MARKET_STATE_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("market state %s cannot be read (%s): the market starts from the config", path, exc)
        return None
    try:
        state = json.loads(text)
    except ValueError as exc:
        log.warning("market state %s is not valid JSON (%s): the market starts from the config", path, exc)
        return None
    if not isinstance(state, dict):
        log.warning("market state %s is not a JSON object: the market starts from the config", path)
        return None
    return state


def save_market_state(data_dir: Path, state: dict[str, Any]) -> None:
    path = data_dir / MARKET_STATE_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, separators=(",", ":")))
    os.replace(tmp, path)


def market_resume_ns(data_dir: Path) -> int | None:
    """Where the saved market stopped: simulated time must not start before it."""
    state = load_market_state(data_dir)
    last = None if state is None else state.get("last_ns")
    return last if isinstance(last, int) else None
