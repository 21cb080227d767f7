"""The bus on a real Redis: each command to one consumer, a crashed consumer's commands reclaimed, topics
trimmed by length, and what a Redis restart keeps (append-only file) or loses (wiped)."""

import pytest
import redis.asyncio as aioredis

from alluse.cluster.servers import RedisServer
from alluse.cluster.streams import Topic, WorkQueue


@pytest.fixture
async def queue(redis_client):
    q = WorkQueue(redis_client, "orders:cmd", "gateway")
    await q.ensure_group()
    await q.ensure_group()  # a second gateway starting: the group exists, nothing is reset
    return q


async def test_each_command_goes_to_one_consumer_and_stays_pending_until_acknowledged(queue):
    for i in range(10):
        await queue.put(f"c{i}".encode())
    a = await queue.take("gw-a", count=6, block_ms=None)
    b = await queue.take("gw-b", count=10, block_ms=None)
    assert [e.payload for e in a + b] == [f"c{i}".encode() for i in range(10)]  # each once, none twice
    assert await queue.pending() == 10
    assert await queue.ack(*(e.id for e in a)) == 6
    assert await queue.pending() == 4
    assert await queue.take("gw-a", block_ms=None) == []


async def test_a_crashed_consumers_commands_are_reclaimed_by_the_next(queue):
    for i in range(5):
        await queue.put(f"c{i}".encode())
    taken = await queue.take("gw-a", block_ms=None)  # gw-a dies here, acknowledging nothing
    assert len(taken) == 5
    assert await queue.reclaim("gw-b", min_idle_ms=60_000) == []  # not idle long enough: gw-a may be alive
    reclaimed = await queue.reclaim("gw-b", min_idle_ms=0)
    assert [e.id for e in reclaimed] == [e.id for e in taken]
    await queue.ack(*(e.id for e in reclaimed))
    assert await queue.pending() == 0


async def test_a_topic_is_read_whole_by_every_reader_and_trimmed_by_length(redis_client):
    topic = Topic(redis_client, "md:SPY", maxlen=100)
    ids = [await topic.publish(str(i).encode()) for i in range(1000)]
    assert 100 <= await redis_client.xlen("md:SPY") < 1000  # approximate trimming: about maxlen kept
    after = await topic.read(ids[-3], block_ms=None)
    assert [e.payload for e in after] == [b"998", b"999"]
    assert [e.payload for e in await topic.read(ids[-3], block_ms=None)] == [b"998", b"999"]  # a second reader


@pytest.mark.parametrize("persist", [True, False], ids=["data kept", "data lost"])
async def test_a_restarted_redis_keeps_pending_commands_or_starts_empty(tmp_path_factory, persist):
    server = RedisServer(tmp_path_factory.mktemp("redis"), persist=persist).start()
    try:
        client = aioredis.from_url(server.url)
        q = WorkQueue(client, "orders:cmd", "gateway")
        await q.ensure_group()
        await q.put(b"c1")
        assert len(await q.take("gw-a", block_ms=None)) == 1
        await client.aclose()
        server.stop()
        if not persist:
            server.wipe()
        server.start()
        client = aioredis.from_url(server.url)
        q = WorkQueue(client, "orders:cmd", "gateway")
        await q.ensure_group()
        assert [e.payload for e in await q.reclaim("gw-b", min_idle_ms=0)] == ([b"c1"] if persist else [])
        await client.aclose()
    finally:
        server.stop()
