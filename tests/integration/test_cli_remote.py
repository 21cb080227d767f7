"""The command line against a running system's API: `status` asks the run that serves its data dir, `cancel
--all` and `flatten` go through the API with the data dir's token; without a token or a run, one line, exit 2."""

from __future__ import annotations

import asyncio
import json

import pytest
from running_system import STOCK, running, system_config, until

from alluse.cli import main
from alluse.model import Order, OrderType, Side
from alluse.rpc.server import ApiServer

pytestmark = pytest.mark.slow  # a running system: once, not again on the pure build


async def remote(data_dir, other_dir, capsys) -> dict:
    api = ApiServer("127.0.0.1", 0)
    seen: dict = {}
    async with running(system_config(data_dir), data_dir, [], api=api) as system:
        url = f"http://127.0.0.1:{api.port}"
        account = next(iter(system.config.accounts))

        async def cli(*argv: str) -> tuple[int, str, str]:
            code = await asyncio.to_thread(main, list(argv))
            out, err = capsys.readouterr()
            return code, out, err

        seen["account"] = account
        seen["status"] = await cli("status", "--data-dir", str(data_dir), "--api", url, "--json")
        seen["other"] = await cli("status", "--data-dir", str(other_dir), "--api", url, "--json")
        oms = system.c.oms
        oms.submit(Order(oms.next_client_order_id(), account, STOCK, Side.BUY, 4, order_type=OrderType.MARKET))
        await until(lambda: system.c.ledger.open_positions(account), 5, "the shares bought")
        seen["flatten"] = await cli("flatten", "--account", account, "--data-dir", str(data_dir), "--api", url)
        await until(lambda: not system.c.ledger.open_positions(account), 5, "the account flat")
        seen["cancel"] = await cli("cancel", "--all", "--data-dir", str(data_dir), "--api", url, "--json")
        seen["no_token"] = await cli("cancel", "--all", "--data-dir", str(other_dir), "--api", url)
    seen["down"] = await asyncio.to_thread(main, ["cancel", "--all", "--data-dir", str(data_dir), "--api", url])
    seen["down_err"] = capsys.readouterr().err
    return seen


def test_the_cli_reads_and_controls_a_running_system_through_its_api(tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    data = tmp_path / "run"
    seen = asyncio.run(remote(data, other, capsys))
    code, out, _ = seen["status"]
    live = json.loads(out)
    assert code == 0 and live["status"]["data_dir"] == str(data.resolve()) and live["status"]["ready"]
    assert {a["account"] for a in live["accounts"]} >= {seen["account"]}
    code, _, err = seen["other"]  # another data dir: not this run's; its own (empty) files are read instead
    assert code == 2 and "other" in err and "Traceback" not in err
    code, out, _ = seen["flatten"]
    assert code == 0 and f"flatten {seen['account']}:" in out and "1 closing orders sent" in out
    code, out, _ = seen["cancel"]
    assert code == 0 and json.loads(out)["action"] == "cancel_all"
    code, _, err = seen["no_token"]
    assert code == 2 and err.count("\n") == 1 and "no API token in" in err
    assert seen["down"] == 2 and "not reachable" in seen["down_err"] and seen["down_err"].count("\n") == 1
