"""Shared by the tests that need Redis (no tests here): the server's URL, and a unique key
prefix per test, removed afterwards, so tests running side by side (pytest -n) on one Redis
database never see each other's keys. Nothing is ever flushed.

Redis is reached at ACCOUNTS_SYNC_TEST_REDIS_URL (default redis://127.0.0.1:6379/15). When it
cannot be reached the tests FAIL, never skip: CI must not go green without having run them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
from redis import Redis
from redis.exceptions import RedisError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def configured_redis_url() -> str:
    return os.environ.get("ACCOUNTS_SYNC_TEST_REDIS_URL", DEFAULT_REDIS_URL)


@pytest.fixture(scope="session", name="redis_url")
def redis_url_fixture() -> str:
    url = configured_redis_url()
    client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except RedisError as exc:
        pytest.fail(
            f"Redis is not reachable at {url} ({type(exc).__name__}: {exc}). Start it, or point "
            f"ACCOUNTS_SYNC_TEST_REDIS_URL at a server; these tests never skip.",
            pytrace=False,
        )
    finally:
        client.close()
    return url


@pytest.fixture(name="redis_prefix")
def redis_prefix_fixture(redis_url: str) -> Iterator[str]:
    """A prefix for this test's keys and queue names; every key containing it goes afterwards."""
    prefix = f"as-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"*{prefix}*", count=500))
        if keys:
            client.delete(*keys)
        for member in client.smembers("rq:queues"):
            if prefix.encode() in member:
                client.srem("rq:queues", member)
    finally:
        client.close()


class PrivateRedis:
    """A redis-server of the test's own, on a free port, that the test may kill and restart
    (the shared server is never restarted: other tests use it)."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed; these tests never skip.", pytrace=False)
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except RedisError:
                if time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start on port {self.port}", pytrace=False)
                time.sleep(0.02)
        client.close()

    def kill(self) -> None:
        """Dies at once, losing everything (no persistence), as a crashed server would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def restart(self, down_for: float = 0.3) -> None:
        self.kill()
        time.sleep(down_for)
        self.start()


@pytest.fixture(name="private_redis")
def private_redis_fixture() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.kill()
