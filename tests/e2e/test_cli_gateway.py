"""`alluse gateway` as a person starts it: it says where it listens, ib_async connects, it stops on its own."""

import re

import pytest
from ib_async import IB

pytestmark = pytest.mark.slow


async def test_the_gateway_command_serves_ib_async(spawn):
    proc = spawn("gateway", "--port", "0", "--duration", "6", "--server-version", "176")
    try:
        line = proc.stdout.readline()
        port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
        ib = IB()
        await ib.connectAsync("127.0.0.1", port, clientId=3, timeout=5)
        assert ib.client.serverVersion() == 176 and ib.managedAccounts() == ["Gen-Acc", "Rev-Acc"]
        ib.disconnect()
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "0 orders" in out and "Traceback" not in err


def test_a_bad_server_version_is_one_line(alluse):
    res = alluse("gateway", "--server-version", "177", "--duration", "1")
    assert res.returncode == 2 and "gateway.server_version = 177" in res.stderr and "Traceback" not in res.stderr
