"""The ``lossdoctor`` command line.

    lossdoctor up [--host H] [--port P]     Redis-protocol server (--redis-port, 6390) + API + one worker
    lossdoctor api [--host H] [--port P]    the HTTP API (uvicorn service.main:app)
    lossdoctor worker [--name N] [--burst]  one rq worker on LOSSDOCTOR_REDIS_URL (--check: is one alive here)
    lossdoctor redis [--port P] [--dir D]   a local Redis-protocol server, in the foreground
    lossdoctor diagnose SPEC.json           run one job in this process, without Redis
    lossdoctor keys new TENANT              a new API key (line 1) and its LOSSDOCTOR_API_KEYS entry (line 2)
    lossdoctor submit SPEC.json [--wait]    send a job to a running service (also status, cancel, list, curves;
                                            see ``lossdoctor.client_cli`` for their exit codes)

Heavy imports happen inside each subcommand, so ``lossdoctor api`` never imports torch.

``up`` and ``api`` run without API keys (``LOSSDOCTOR_API_KEYS`` empty) only on a loopback address, and
say so in their log; bound to any other address they refuse to start until keys are configured.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys

#: Address and port the API binds to by default: loopback only.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: Log line format of every lossdoctor process (to stderr).
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Exit code of a command refused for its configuration (no keys on a public address, malformed keys).
EXIT_CONFIG = 2
#: Exit code of ``lossdoctor worker`` when its Redis does not answer at start.
EXIT_UNREACHABLE = 1

log = logging.getLogger("lossdoctor")


def is_loopback(host: str) -> bool:
    """True when ``host`` is ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def keys_allow_binding(host: str, port: int) -> bool:
    """Whether the API may listen on ``host``: with keys always; without keys only on loopback, said in the log."""
    from pydantic import ValidationError

    from service.core.config import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        log.error("the settings are not valid: %s", exc)
        return False
    if settings.keys_required:
        return True
    if is_loopback(host):
        log.warning(
            "running WITHOUT API keys: anyone who can connect to %s:%d acts as tenant %r; "
            "create keys with `lossdoctor keys new TENANT` and set LOSSDOCTOR_API_KEYS to require them",
            host,
            port,
            settings.default_owner,
        )
        return True
    log.error(
        "refusing to listen on %s without API keys; only a loopback address (127.0.0.1) may run without "
        "them. Create a key with `lossdoctor keys new TENANT` and set LOSSDOCTOR_API_KEYS to its second line",
        host,
    )
    return False


def _api(args: argparse.Namespace) -> int:
    if not keys_allow_binding(args.host, args.port):
        return EXIT_CONFIG
    import uvicorn

    uvicorn.run("service.main:app", host=args.host, port=args.port, log_level="info")
    return 0


def _worker_check() -> int:
    """``lossdoctor worker --check``: 0 when a worker of this host heartbeats in Redis, else 1 and why."""
    import socket

    from worker.jobs.rq_worker import RedisUnreachable, check_redis, shown_url, worker_alive_here
    from worker.jobs.settings import WorkerSettings

    settings = WorkerSettings()
    try:
        check_redis(settings.redis_url)
    except RedisUnreachable as exc:
        log.error("%s", exc)
        return EXIT_UNREACHABLE
    if worker_alive_here(settings):
        return 0
    log.error(
        "no worker of host %s has a recent heartbeat on queue %r at %s",
        socket.gethostname(),
        settings.queue,
        shown_url(settings.redis_url),
    )
    return 1


def _worker(args: argparse.Namespace) -> int:
    from worker.jobs.rq_worker import RedisUnreachable, run_worker

    if args.check:
        return _worker_check()
    try:
        run_worker(name=args.name, burst=args.burst)
    except RedisUnreachable as exc:
        log.error("%s", exc)
        return EXIT_UNREACHABLE
    return 0


def _redis(args: argparse.Namespace) -> int:
    import signal
    import threading
    from pathlib import Path

    from lossdoctor.redis_server import RedisServer

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with RedisServer(Path(args.dir), port=args.port, appendonly=True) as server:
        logging.getLogger("lossdoctor").info("Redis-protocol server at %s; Ctrl-C stops it", server.url)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0


def _up(args: argparse.Namespace) -> int:
    if not keys_allow_binding(args.host, args.port):
        return EXIT_CONFIG
    from lossdoctor.up import run_up

    return run_up(host=args.host, port=args.port, data_dir=args.data_dir, redis_port=args.redis_port)


def _keys(args: argparse.Namespace) -> int:
    from service.core.security import new_key

    try:
        key, entry = new_key(args.tenant)
    except ValueError as exc:
        log.error("%s", exc)
        return EXIT_CONFIG
    # the command's output, not a status message: the key, then the entry for LOSSDOCTOR_API_KEYS
    sys.stdout.write(f"{key}\n{entry}\n")
    return 0


def _diagnose(args: argparse.Namespace, rest: list[str]) -> int:
    from lossdoctor.diagnose_cli import main as diagnose_main

    return int(diagnose_main(rest))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand but ``diagnose`` (which parses its own arguments)."""
    from lossdoctor.up import DEFAULT_REDIS_PORT

    parser = argparse.ArgumentParser(prog="lossdoctor", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (("up", "run Redis, the API and one worker locally"), ("api", "run the HTTP API")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
        p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"API port (default {DEFAULT_PORT})")
        if name == "up":
            p.add_argument("--data-dir", default="var", help="where Redis keeps its data (default ./var)")
            p.add_argument(
                "--redis-port",
                type=int,
                default=DEFAULT_REDIS_PORT,
                help=f"port of the Redis-protocol server on 127.0.0.1 (default {DEFAULT_REDIS_PORT})",
            )
    w = sub.add_parser("worker", help="run one rq worker")
    w.add_argument("--name", default=None, help="worker name (default: rq's unique name)")
    w.add_argument("--burst", action="store_true", help="quit when the queue is empty")
    w.add_argument(
        "--check",
        action="store_true",
        help="exit 0 when a worker of this host heartbeats in Redis, else 1 (a container healthcheck)",
    )
    r = sub.add_parser("redis", help="run a local Redis-protocol server in the foreground")
    r.add_argument("--port", type=int, default=6379, help="port (default 6379)")
    r.add_argument("--dir", default="var/redis", help="data directory (default ./var/redis)")
    sub.add_parser("diagnose", help="run one job spec in this process and print the job as JSON", add_help=False)
    k = sub.add_parser("keys", help="manage API keys")
    keys_sub = k.add_subparsers(dest="keys_command", required=True)
    new = keys_sub.add_parser(
        "new", help="print a new key (line 1) and its TENANT:HASH entry for LOSSDOCTOR_API_KEYS (line 2)"
    )
    new.add_argument("tenant", help="the tenant the key acts for (letters, digits, '_', '.', '-')")
    from lossdoctor import client_cli

    client_cli.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the subcommand named in ``argv`` (default: the process's arguments); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    if argv and argv[0] == "diagnose":
        return _diagnose(argparse.Namespace(), argv[1:])
    args = build_parser().parse_args(argv)
    from lossdoctor.client_cli import COMMANDS as client_commands

    commands = {"up": _up, "api": _api, "worker": _worker, "redis": _redis, "keys": _keys, **client_commands}
    return commands[args.command](args)
