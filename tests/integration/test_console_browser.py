"""The console in a real browser (Playwright driving Debian's chromium) against a system trading for real: the page
loads, a fill shows within a second of being booked, the seven charts draw data, and a control is refused without
the token and, with it, halts the account (in the page and in /health)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from running_system import STOCK, running, system_config

from alluse.model import Order, OrderType, Side
from alluse.rpc.auth import token_path
from alluse.rpc.server import ApiServer

pytestmark = pytest.mark.slow  # a running system and a browser: once, not again on the pure build

CHARTS = ("trading", "market", "system", "trend", "anomaly", "forecast")
# the detectors, quick enough to have a value within seconds (the built-ins want 10 and 15 minutes of data)
QUICK_DETECTORS = {
    "predictive": [{"name": "memory_high_predicted", "metric": "alluse_process_rss_bytes", "comparison": ">",
                    "threshold": 8 * 2**30, "window_s": 30, "min_span_s": 1, "min_points": 5, "for_s": 60}],
    "anomaly": [{"name": "order_submit_latency_anomaly", "metric": "alluse_order_submit_seconds:p90", "side": "high",
                 "z_threshold": 8, "min_relative_scale": 0.5, "window_s": 30, "min_points": 5, "for_s": 15}],
}  # fmt: skip


async def browse(data_dir, chromium: str) -> dict:
    from playwright.async_api import async_playwright

    api = ApiServer("127.0.0.1", 0)
    config = system_config(data_dir, alerts=QUICK_DETECTORS)
    seen: dict = {}
    async with running(config, data_dir, [], orders=True, api=api) as system, async_playwright() as p:
        base = f"http://127.0.0.1:{api.port}"
        account = next(iter(system.config.accounts))
        browser = await p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1440, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(base + "/")
        await page.wait_for_selector("#ready.ok", timeout=10_000)
        await page.wait_for_selector("#stream.ok", timeout=10_000)
        # a fill, from booked to on the page
        booked: dict[str, float] = {}
        system.c.bus.subscribe("order.fill", lambda f: booked.setdefault(f.client_order_id, time.monotonic()))
        oms = system.c.oms
        order = Order(oms.next_client_order_id(), account, STOCK, Side.BUY, 7, order_type=OrderType.MARKET)
        oms.submit(order)
        coid = order.client_order_id
        await page.wait_for_selector(f'#fills tr[data-coid="{coid}"]', timeout=5_000)
        seen["fill_to_page_s"] = time.monotonic() - booked[coid]
        # the charts draw what the stream brings
        for name in CHARTS:
            await page.wait_for_function(
                f"Number(document.getElementById('chart-{name}').dataset.points || 0) >= 3", timeout=20_000
            )
        seen["points"] = {n: int(await page.get_attribute(f"#chart-{n}", "data-points") or 0) for n in CHARTS}
        seen["canvases"] = await page.locator("#charts canvas").count()
        seen["stats"] = await page.locator("#stats tbody tr").all_inner_texts()
        # a control without the token is refused; with it the account halts
        await page.click(f'button[data-control="halt"][data-account="{account}"]')
        await page.wait_for_function("document.getElementById('control-result').textContent.includes('refused')")
        seen["refused"] = await page.text_content("#control-result")
        seen["state_after_refusal"] = system.c.states.get(account).value
        await page.fill("#token", token_path(data_dir).read_text().strip())
        await page.dispatch_event("#token", "change")
        await page.click(f'button[data-control="halt"][data-account="{account}"]')
        await page.wait_for_selector("td.state-HALTED", timeout=5_000)
        seen["result"] = await page.text_content("#control-result")
        await page.wait_for_selector("#controls tbody tr", timeout=5_000)  # journaled, and shown
        seen["journaled"] = await page.locator("#controls tbody tr").first.inner_text()
        async with httpx.AsyncClient() as client:
            seen["health"] = (await client.get(base + "/health")).json()
        await page.screenshot(path=str(data_dir / "console.png"), full_page=True)
        seen["errors"], seen["account"] = errors, account
        await browser.close()
    return seen


def test_the_console_shows_the_run_live_and_its_controls_need_the_token(tmp_path, chromium):
    seen = asyncio.run(browse(tmp_path, chromium))
    account = seen["account"]
    assert seen["errors"] == []  # no script error in the page
    assert seen["fill_to_page_s"] < 1.0, seen["fill_to_page_s"]
    assert all(n >= 3 for n in seen["points"].values()), seen["points"]
    assert seen["canvases"] >= len(CHARTS)  # uPlot drew each chart
    assert len(seen["stats"]) == 6 and all("-" not in row.split("\t")[1] for row in seen["stats"][:1])
    assert "refused: 401" in seen["refused"] and seen["state_after_refusal"] == "ACTIVE"
    assert f"halt {account}: done by api from 127.0.0.1" in seen["result"]
    assert seen["health"]["trading_states"][account] == "HALTED"
    assert "halt" in seen["journaled"] and "api from 127.0.0.1 at " in seen["journaled"]
    assert (tmp_path / "console.png").stat().st_size > 10_000
