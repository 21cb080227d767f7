"""`alluse gateway`: the local TWS-protocol gateway on its own, for an ib_async program (or `alluse run` with
`[ibkr] port = ...`) to connect to, on the simulated market and a paper venue (brokers/ibkr/gateway)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from alluse.cli.output import console


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gateway", help="serve the TWS socket protocol on loopback, backed by the simulated market")
    p.add_argument("--config", type=Path, help="TOML config: [gateway], [market], [venue], [accounts]")
    p.add_argument("--port", type=int, help="port on 127.0.0.1 (default: [gateway] port; 0 = any free port)")
    p.add_argument("--server-version", type=int, help="176 or 178 (default: [gateway] server_version)")
    p.add_argument("--speed", type=float, help="simulated seconds per wall second (default 1: real time)")
    p.add_argument("--start", help="ISO-8601 UTC: simulated time read this at wall time --anchor (a cluster's clock)")
    p.add_argument("--anchor", type=float, help="unix seconds: when simulated time read --start")
    p.add_argument("--duration", type=float, help="wall seconds to serve (default: until Ctrl-C)")
    p.set_defaults(func=gateway_command)


def gateway_command(args: argparse.Namespace) -> int:
    import asyncio
    import signal
    from collections import Counter
    from datetime import datetime

    from alluse.app.config import load_config
    from alluse.app.kernel import market_hours
    from alluse.brokers.ibkr.gateway.exchange import Exchange
    from alluse.brokers.ibkr.gateway.server import Gateway
    from alluse.common.clock import LiveClock, anchored_now_ns, datetime_to_ns

    overrides = {"gateway": {"port": args.port, "server_version": args.server_version}}
    config = load_config(args.config, overrides)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        speed = args.speed or 1.0
        start_ns = None
        if args.start is not None:  # the cluster's shared clock ([cluster] sim_start, clock_anchor_unix, speed)
            start = datetime_to_ns(datetime.fromisoformat(args.start.replace("Z", "+00:00")))
            start_ns = anchored_now_ns(start, args.anchor if args.anchor is not None else time.time(), speed)
        clock = LiveClock(loop, speed=speed, start_ns=start_ns)
        accounts = {name: a.cash for name, a in config.accounts.items()}
        hours = market_hours(config, clock.now_ns())  # the market's sessions, as a run's kernel keeps them
        # a start number from the wall clock (minutes): a restarted gateway's ids do not repeat the last start's
        exchange = Exchange(clock, config.market, config.venue, accounts, config.run.seed, hours=hours,
                            instance=time.time_ns() // 60_000_000_000)  # fmt: skip
        gateway = Gateway(exchange, config.gateway)
        port = await gateway.start()
        console.print(f"gateway: 127.0.0.1:{port}, server version {gateway.server_version}, accounts "
                      f"{', '.join(accounts)} (Ctrl-C stops)", highlight=False)  # fmt: skip
        try:
            await asyncio.wait_for(stop.wait(), timeout=args.duration)
        except TimeoutError:
            pass
        finally:
            counts = gateway.fault_counts()
            await gateway.stop()
            exchange.close()
        received = Counter(o.order_ref for o in exchange.orders.values())  # the receipts, by client order id
        twice = sum(1 for n in received.values() if n > 1)
        console.print(f"gateway: {received.total()} orders ({len(received)} client order ids, {twice} received more "
                      f"than once), {len(exchange.executions)} executions, {gateway.pacing_violations} pacing "
                      f"violations, faults {dict(counts) or 'none'}", highlight=False, soft_wrap=True)  # fmt: skip

    asyncio.run(serve())
    return 0
