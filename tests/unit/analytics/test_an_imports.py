"""Heavy analytics libraries stay off the trading path (docs/architecture.md: the trading path starts fast)."""

import subprocess
import sys

HEAVY = ("sklearn", "statsmodels", "matplotlib", "pandas")


def test_the_trading_path_and_the_cli_import_no_analytics_library():
    code = (
        "import sys, alluse.cli, alluse.app.system, alluse.monitoring.service; "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
