"""The API's controls on a running system, and who may use them: a bearer token from DIR/api.token (mode 0600,
made at the first start), 401 without it or with a wrong one, 403 for a cross-origin browser request, every
control journaled with who and when, and the token never in an answer."""

from __future__ import annotations

import asyncio
import stat

import httpx
import pytest
from running_system import STOCK, running, system_config, until

from alluse.model import Order, OrderType, Side
from alluse.rpc.auth import rotate_token, token_path
from alluse.rpc.server import ApiServer

pytestmark = pytest.mark.slow  # a running system: once, not again on the pure build


async def drive(data_dir) -> dict:
    api = ApiServer("127.0.0.1", 0)
    seen: dict = {}
    async with running(system_config(data_dir), data_dir, [], api=api) as system:
        account = next(iter(system.config.accounts))
        seen["account"], seen["made"] = account, api.new_token
        seen["mode"] = stat.S_IMODE(token_path(data_dir).stat().st_mode)
        base = f"http://127.0.0.1:{api.port}"
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            token = token_path(data_dir).read_text().strip()
            bearer = {"Authorization": f"Bearer {token}"}
            halt = {"accounts": [account], "reason": "test"}
            seen["none"] = await client.post("/api/v1/control/halt", json=halt)
            seen["wrong"] = await client.post("/api/v1/control/halt", json=halt,
                                              headers={"Authorization": "Bearer " + "x" * len(token)})  # fmt: skip
            seen["cross"] = await client.post("/api/v1/control/halt", json=halt,
                                              headers={**bearer, "Origin": "https://evil.example"})  # fmt: skip
            seen["state_before"] = system.c.states.get(account).value
            seen["unknown"] = await client.post("/api/v1/control/halt", json={"accounts": ["Nope"]}, headers=bearer)
            seen["halt"] = await client.post("/api/v1/control/halt", json=halt, headers=bearer)
            seen["health"] = (await client.get("/health")).json()
            seen["resume"] = await client.post("/api/v1/control/resume", json={}, headers=bearer)
            # flatten: three shares bought, then closed at market
            oms = system.c.oms
            oms.submit(Order(oms.next_client_order_id(), account, STOCK, Side.BUY, 3, order_type=OrderType.MARKET))
            await until(lambda: any(p.instrument_id == STOCK for p in system.c.ledger.open_positions(account)), 5,
                        "the shares bought")  # fmt: skip
            seen["flatten"] = await client.post("/api/v1/flatten", json={"account": account}, headers=bearer)
            await until(lambda: not system.c.ledger.open_positions(account), 5, "the account flat")
            seen["cancel"] = await client.post("/api/v1/cancel-all", json={}, headers=bearer)
            seen["controls"] = (await client.get("/api/v1/controls")).json()
            # rotation takes effect at once: the old token is refused, the new one works
            new = rotate_token(data_dir)
            seen["old_after_rotate"] = await client.post("/api/v1/cancel-all", json={}, headers=bearer)
            seen["new_after_rotate"] = await client.post("/api/v1/cancel-all", json={},
                                                         headers={"Authorization": f"Bearer {new}"})  # fmt: skip
            # the token is in no answer
            answers = [(await client.get(p)).text for p in ("/openapi.json", "/health", "/metrics", "/api/v1/status",
                       "/api/v1/connection", "/api/v1/controls", "/api/v1/orders", "/api/v1/alerts")]  # fmt: skip
            seen["leaks"] = [a for a in answers if token in a or new in a]
    return seen


def test_controls_need_the_token_are_journaled_and_work(tmp_path):
    seen = asyncio.run(drive(tmp_path))
    account = seen["account"]
    assert seen["made"] is not None and seen["mode"] == 0o600  # made at the first start, private
    for refused in ("none", "wrong", "old_after_rotate"):
        r = seen[refused]
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", (refused, r.text)
    assert seen["cross"].status_code == 403 and "cross-origin" in seen["cross"].text
    assert seen["state_before"] == "ACTIVE"  # none of the refused requests did anything
    assert seen["unknown"].status_code == 422 and "'Nope'" in seen["unknown"].text
    halt = seen["halt"].json()
    assert seen["halt"].status_code == 200 and halt["changed"] == [account] and halt["who"] == "api from 127.0.0.1"
    assert seen["health"]["trading_states"][account] == "HALTED"  # visible where an operator looks
    assert seen["resume"].status_code == 200 and account in seen["resume"].json()["changed"]
    flat = seen["flatten"].json()
    assert seen["flatten"].status_code == 200 and len(flat["orders"]) == 1 and flat["denied"] == {}
    assert seen["cancel"].status_code == 200 and seen["new_after_rotate"].status_code == 200
    actions = [(c["action"], c["account"]) for c in seen["controls"]]
    resumed = [a for act, a in actions if act == "resume"]
    assert actions[0] == ("halt", account) and ("flatten", account) in actions
    assert sorted(resumed) == sorted(seen["health"]["trading_states"])  # no account named: every account
    assert all("api from 127.0.0.1 at " in c["detail"] for c in seen["controls"])
    assert seen["leaks"] == []
