"""The instruments the system knows. Anything else is an unknown instrument and is refused."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

from alluse.model import Equity, Instrument, InvalidInput, Option, Unchecked, parse_symbol


class InstrumentRegistry:
    def __init__(self, instruments: Iterable[Instrument] = ()) -> None:
        self._by_id: dict[str, Instrument] = {}
        self._options: dict[str, list[Option]] = defaultdict(list)
        for instrument in instruments:
            self.add(instrument)

    def add(self, instrument: Instrument) -> Instrument:
        known = self._by_id.get(instrument.id)
        if known is not None:
            return known
        self._by_id[instrument.id] = instrument
        if isinstance(instrument, Option):
            self._options[instrument.underlying].append(instrument)
        return instrument

    def get(self, instrument_id: str) -> Instrument | None:
        return self._by_id.get(instrument_id)

    def require(self, instrument_id: Unchecked) -> Instrument:
        instrument = self._by_id.get(instrument_id) if type(instrument_id) is str else None
        if instrument is None:
            raise InvalidInput("instrument_id", instrument_id, "unknown instrument")
        return instrument

    def resolve(self, instrument_id: str) -> Instrument:
        """Known, or registered on sight from its symbol: the journal and the venue's store name
        instruments (old expiries, strikes listed by an earlier session) this process never listed."""
        instrument = self._by_id.get(instrument_id)
        return instrument if instrument is not None else self.add(parse_symbol(instrument_id))

    def __contains__(self, instrument_id: object) -> bool:
        return instrument_id in self._by_id

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def is_option(self, instrument_id: str) -> bool:
        return isinstance(self._by_id.get(instrument_id), Option)

    def equities(self) -> list[Equity]:
        return [i for i in self._by_id.values() if isinstance(i, Equity)]

    def options_for(self, underlying: str) -> list[Option]:
        return list(self._options.get(underlying, ()))
