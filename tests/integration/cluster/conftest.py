"""Real PostgreSQL and Redis servers on loopback for the cluster's tests, started once per pytest worker
(alluse.cluster.servers, what `alluse cluster up` starts), each test on a database and a Redis db of its own."""

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from alluse.cluster.schema import migrate
from alluse.cluster.servers import PostgresServer, RedisServer, ServerError


def _started(server):
    try:
        return server.start()
    except ServerError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (under CI, scripts/ensure-system-packages.sh should have installed it)")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def servers_dir():
    """Under /tmp itself: as root, PostgreSQL runs as user postgres, which cannot enter pytest's 0700 folders."""
    path = Path(tempfile.mkdtemp(prefix="alluse-test-servers-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server(servers_dir):
    server = _started(PostgresServer(servers_dir / "pg"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(servers_dir):
    server = _started(RedisServer(servers_dir / "redis"))
    yield server
    server.stop()


@pytest.fixture
async def pg_dsn(postgres_server):
    """A fresh database with the cluster's schema, dropped after the test."""
    name = f"t_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(postgres_server.dsn)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    dsn = postgres_server.dsn.rsplit("/", 1)[0] + f"/{name}"
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    yield dsn
    admin = await asyncpg.connect(postgres_server.dsn)
    try:
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
async def pg_pool(pg_dsn):
    p = await asyncpg.create_pool(pg_dsn, min_size=1, max_size=10)
    yield p
    await p.close()


@pytest.fixture
async def pg(pg_dsn):
    conn = await asyncpg.connect(pg_dsn)
    yield conn
    await conn.close()


@pytest.fixture
async def redis_client(redis_server):
    """A client on an emptied database of the worker's server."""
    client = aioredis.from_url(redis_server.url, socket_timeout=5)  # a read never hangs a test
    await client.flushdb()
    yield client
    await client.aclose()
