"""The live stream's hub: a slow client loses events (counted, and told of the gap), never slows a publisher; a
client that goes away is forgotten; closing ends every stream."""

import asyncio

from alluse.rpc.stream import EventHub


async def take(frames, n):
    return [await anext(frames) for _ in range(n)]


def test_a_full_queue_drops_and_counts_and_the_client_hears_of_the_gap():
    async def scenario():
        hub = EventHub(queue_events=3)
        frames = hub.frames()
        assert await anext(frames) == b": connected\n\n"  # connected: the client is registered
        for i in range(10):
            hub.publish("fill", {"n": i})  # never waits, whatever the client does
        assert (hub.published, hub.dropped) == (10, 7)
        got = await take(frames, 2)
        assert got[0] == b'event: dropped\ndata: {"events": 7}\n\n'  # the gap is said, before what is left
        assert got[1] == b'event: fill\ndata: {"n": 0}\n\n'
        assert await take(frames, 2) == [b'event: fill\ndata: {"n": 1}\n\n', b'event: fill\ndata: {"n": 2}\n\n']
        hub.publish("fill", {"n": 10})
        assert await take(frames, 1) == [b'event: fill\ndata: {"n": 10}\n\n']  # no gap since: no dropped event
        metrics = {m.name: m.value for m in hub.metrics()}
        assert metrics == {"alluse_api_stream_clients": 1, "alluse_api_stream_events_total": 11,
                           "alluse_api_stream_dropped_total": 7}  # fmt: skip
        await frames.aclose()  # the client went away
        assert hub.clients == set()
        hub.publish("fill", {"n": 11})  # with nobody listening nothing is encoded or counted
        assert hub.published == 11

    asyncio.run(scenario())


def test_closing_ends_every_stream_even_a_full_one():
    async def scenario():
        hub = EventHub(queue_events=2)
        frames = hub.frames()
        await anext(frames)
        for i in range(5):
            hub.publish("metrics", {"n": i})
        hub.close()
        assert [f async for f in frames] == []  # the server is stopping: the stream ends at once
        assert hub.clients == set()

    asyncio.run(asyncio.wait_for(scenario(), 5))


def test_a_value_that_is_not_strict_json_is_not_sent_and_the_publisher_does_not_raise(caplog):
    async def scenario():
        hub = EventHub()
        frames = hub.frames()
        await anext(frames)
        hub.publish("metrics", {"x": float("nan")})  # on the trading loop: must not raise
        hub.publish("fill", {"n": 1})
        assert (hub.published, hub.unencodable) == (1, 1) and "metrics event not sent" in caplog.text
        assert await anext(frames) == b'event: fill\ndata: {"n": 1}\n\n'
        await frames.aclose()

    asyncio.run(scenario())
