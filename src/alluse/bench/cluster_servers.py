"""Throwaway PostgreSQL and Redis for the workloads that measure the cluster (FO-1, SC-1): in a temporary
directory, on loopback, stopped and removed after; the workload is skipped, saying why, where they cannot
start (the Debian packages not installed)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alluse.bench.figures import WorkloadSkipped


@contextmanager
def cluster_servers(prefix: str) -> Iterator[tuple[str, str]]:
    """(PostgreSQL's DSN, Redis' URL)."""
    from alluse.cluster.servers import PostgresServer, RedisServer, ServerError

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        root = Path(tmp)
        root.chmod(0o755)  # as root, PostgreSQL runs as user postgres, which must enter it
        try:
            postgres = PostgresServer(root / "pg").start()
        except ServerError as exc:
            raise WorkloadSkipped(str(exc)) from None
        try:
            try:
                redis = RedisServer(root / "redis").start()
            except ServerError as exc:
                raise WorkloadSkipped(str(exc)) from None
            try:
                yield postgres.dsn, redis.url
            finally:
                redis.stop()
        finally:
            postgres.stop()
