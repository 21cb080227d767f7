"""Draws docs/images/console.png: `alluse run` on the demo config with the API on a free port, and the console
in Debian's chromium (Playwright) once the run has traded for a while. Run from the checkout's venv:
    .venv/bin/python scripts/console_screenshot.py
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images" / "console.png"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def shoot(port: int) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("chromium is missing: `make chromium` as root installs it")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1440, "height": 1000})
        await page.goto(f"http://127.0.0.1:{port}/")
        await page.wait_for_selector("#stream.ok", timeout=20_000)
        await asyncio.sleep(25)  # let the charts fill
        await page.screenshot(path=str(OUT), clip={"x": 0, "y": 0, "width": 1440, "height": 1000})
        await browser.close()


def main() -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        alluse, demo = ROOT / ".venv" / "bin" / "alluse", ROOT / "configs" / "demo.toml"
        run = subprocess.Popen([str(alluse), "run", "--config", str(demo),
                                "--data-dir", data, "--metrics-port", str(port), "--duration", "45"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    time.sleep(0.2)
            asyncio.run(shoot(port))
        finally:
            run.terminate()
            run.wait(timeout=60)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
