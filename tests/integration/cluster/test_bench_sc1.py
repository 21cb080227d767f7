"""SC-1 counts what it says: the orders it reports committed are rows in PostgreSQL and commands on Redis, and
an account's cost is measured by running the wheel for it."""

from alluse.bench.sc1 import agents_rate, measure_accounts
from alluse.cluster.gateway import command_stream


async def test_the_order_path_rate_is_of_orders_really_committed_and_commanded(pg_dsn, pg_pool, redis_server,
                                                                               redis_client):  # fmt: skip
    rate = agents_rate(pg_dsn, redis_server.url, 2, 300)
    assert rate > 0
    assert await pg_pool.fetchval("SELECT count(*) FROM orders") == 600
    assert await redis_client.xlen(command_stream("SC1")) == 600


def test_an_accounts_cost_is_the_wheel_trading_it():
    small = measure_accounts(5)
    assert small["rss"] > 50 * 2**20 and small["cpu"] > 0
