"""A local gateway speaking the TWS socket API, backed by the project's paper venue and simulated market.

The unmodified ib_async client connects to it, streams quotes and greeks, reads option chains and
places, cancels and reconciles orders; IB's rules (pacing, market-data lines, client ids, order ids)
are enforced as IB enforces them, and IB's faults can be injected. Layers, as ib_async's: `wire`
(frames and fields) -> `incoming`/`outgoing` (message layouts) -> `session` (one client) -> `server`.
"""
