"""The Docker and compose files, the Makefile, CI script and README, checked without a Docker engine.

The commands the images run are parsed by the same ``lossdoctor`` argument parser the tests drive,
so an image can only run a command that the suite exercises.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from lossdoctor.cli import build_parser

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def _parses(command: list[str]) -> str:
    assert command[0] == "lossdoctor", command
    args = build_parser().parse_args(command[1:])
    return str(args.command)


def test_redis_keeps_an_append_only_file_on_a_volume_and_has_a_healthcheck(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert redis["image"].startswith("redis")
    assert "--appendonly" in redis["command"] and "yes" in redis["command"]
    volume = redis["volumes"][0].split(":")
    assert volume[1] == "/data" and volume[0] in compose["volumes"]
    assert "ping" in " ".join(redis["healthcheck"]["test"])


def test_api_and_workers_run_lossdoctor_commands(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert _parses(services["api"]["command"]) == "api"
    assert _parses(services["worker"]["command"]) == "worker"
    assert _parses(services["worker-gpu"]["command"]) == "worker"
    for name in ("api", "worker", "worker-gpu"):
        assert services[name]["environment"]["LOSSDOCTOR_REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_compose_will_not_start_the_api_without_keys(compose: dict[str, Any]) -> None:
    keys = compose["services"]["api"]["environment"]["LOSSDOCTOR_API_KEYS"]
    # compose's ${VAR:?message} refuses to start when VAR is unset or empty
    assert keys.startswith("${LOSSDOCTOR_API_KEYS:?") and keys.endswith("}")
    assert "0.0.0.0" in compose["services"]["api"]["command"]


def test_plain_compose_up_needs_no_gpu_and_the_gpu_worker_is_a_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    # `docker compose up` starts every service without a profile: none of them may reserve a GPU
    default = [name for name, service in services.items() if not service.get("profiles")]
    assert set(default) == {"redis", "api", "worker"}
    for name in default:
        assert "deploy" not in services[name], name
    assert services["worker"]["build"]["args"]["TORCH_VARIANT"] == "cpu"
    gpu = services["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert gpu["build"]["args"]["TORCH_VARIANT"] == "cu124"


def test_workers_have_a_healthcheck_that_is_a_lossdoctor_command(compose: dict[str, Any]) -> None:
    for name in ("worker", "worker-gpu"):
        check = compose["services"][name]["healthcheck"]
        assert check["test"][0] == "CMD"
        command = check["test"][1:]
        assert _parses(command) == "worker" and build_parser().parse_args(command[1:]).check
        assert check["start_period"]  # the worker preloads torch before it registers


def _dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined, as (INSTRUCTION, arguments)."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_the_images_user_owns_its_data_volume_and_up_keeps_its_data_there() -> None:
    instructions = _dockerfile()
    known = {"FROM", "ARG", "ENV", "WORKDIR", "RUN", "COPY", "USER", "VOLUME", "EXPOSE", "CMD", "ENTRYPOINT"}
    assert {keyword for keyword, _ in instructions} <= known
    index = {keyword: i for i, (keyword, _) in enumerate(instructions)}  # the last of each
    user = next(rest for keyword, rest in instructions if keyword == "USER")
    volume = (
        json.loads(instructions[index["VOLUME"]][1])
        if instructions[index["VOLUME"]][1].startswith("[")
        else [instructions[index["VOLUME"]][1]]
    )
    assert volume == ["/data"]
    # made and handed to the user in a RUN before VOLUME (what a RUN changes after VOLUME is thrown away)
    runs = [rest for keyword, rest in instructions[: index["VOLUME"]] if keyword == "RUN"]
    assert any(f"chown {user}:{user} /data" in run and "mkdir -p /data" in run for run in runs)
    assert index["VOLUME"] < index["USER"] < index["CMD"]
    cmd = json.loads(instructions[index["CMD"]][1])
    args = build_parser().parse_args(cmd[1:])
    assert args.command == "up" and args.data_dir == "/data" and args.host == "0.0.0.0"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="switches to the image's uid")
def test_a_data_dir_made_as_the_dockerfile_makes_it_is_writable_by_the_images_uid() -> None:
    """Mimic the image: the directory chowned to the ``useradd --uid`` of the Dockerfile; then, as that uid, what
    ``lossdoctor up --data-dir`` does there: make ``redis/`` and run the Redis-protocol server with its
    append-only file in it. A root-owned directory (the image before /data was its user's) fails."""
    uid = int(re.search(r"useradd [^\n]*--uid (\d+)", (REPO / "Dockerfile").read_text()).group(1))  # type: ignore[union-attr]
    with tempfile.TemporaryDirectory() as tmp:  # not pytest's tmp_path: its parents are closed to other uids
        os.chmod(tmp, 0o755)
        _check_writable_as(uid, Path(tmp))


def _check_writable_as(uid: int, tmp_path: Path) -> None:
    from redis import Redis

    from lossdoctor.redis_server import RedisServer, ping

    def start_as_image_user(data: Path) -> tuple[subprocess.Popen[bytes], RedisServer]:
        server = RedisServer(data / "redis", appendonly=True)
        command = ["sh", "-c", 'mkdir -p "$0" && exec "$@"', str(server.data_dir), *server.command()]
        process = subprocess.Popen(command, user=uid, group=uid, stderr=subprocess.PIPE)
        return process, server

    owned = tmp_path / "owned"
    owned.mkdir()
    os.chown(owned, uid, uid)
    process, server = start_as_image_user(owned)
    try:
        deadline = time.monotonic() + 20
        while process.poll() is None and not ping(server.host, server.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        client = Redis.from_url(server.url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        assert any((owned / "redis").rglob("*.aof*"))
    finally:
        process.terminate()
        process.wait(10)
    root_owned = tmp_path / "root-owned"
    root_owned.mkdir()
    refused, _ = start_as_image_user(root_owned)
    assert refused.wait(20) != 0  # what the image did before /data was chowned to its user


def test_the_image_refuses_to_start_without_keys() -> None:
    cmd = json.loads(dict(_dockerfile())["CMD"])
    assert cmd[0] == "lossdoctor"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOSSDOCTOR_")}
    done = subprocess.run(
        [sys.executable, "-m", "lossdoctor", *cmd[1:]], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0 without API keys" in done.stderr


def test_dockerfile_selects_torch_by_build_arg_and_runs_lossdoctor() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert re.search(r"^ARG TORCH_VARIANT=cpu", text, re.M)
    assert "download.pytorch.org/whl/${TORCH_VARIANT}" in text
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))  # type: ignore[union-attr]
    assert _parses(cmd) == "up"


def _make_dry_run(target: str) -> list[str]:
    """The commands ``make TARGET`` would run from scratch (``-B``: as if nothing were installed yet)."""
    done = subprocess.run(["make", "-n", "-B", target], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    wanted = ("pip install", "lossdoctor up", "pytest")
    return [line for line in done.stdout.splitlines() if any(word in line for word in wanted)]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_installs_only_what_running_needs_and_make_test_adds_the_test_tools() -> None:
    run = _make_dry_run("run")
    installs = [line for line in run if "pip install" in line]
    assert "torch==2.13.0" in installs[0] and "-e" not in installs[0]  # torch first
    assert all("[test]" not in line for line in run)
    assert any("-e ." in line and "torch==2.13.0" in line for line in installs)
    assert "lossdoctor up" in run[-1] and "--redis-port" in run[-1]
    test = _make_dry_run("test")
    test_installs = [line for line in test if "pip install" in line]
    assert "torch==2.13.0" in test_installs[0] and "-e" not in test_installs[0]
    assert any("-e '.[test]'" in line and "torch==2.13.0" in line for line in test_installs)
    assert test[-1].endswith("pytest")


def test_makefile_and_ci() -> None:
    makefile = (REPO / "Makefile").read_text()
    for target in ("install", "install-test", "run", "test"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert makefile.index("torch==2.13.0") < makefile.index("-e '.[test]'")
    assert "lossdoctor up" in makefile and "$(BIN)/pytest" in makefile
    ci = (REPO / ".ci" / "run").read_text()
    assert "set -euo pipefail" in ci and "make test" in ci


def test_readme_opens_with_the_two_commands() -> None:
    text = (REPO / "README.md").read_text()
    block = re.search(r"```(?:sh|bash|console)?\n(.*?)```", text, re.S)
    assert block is not None
    assert [line.strip() for line in block.group(1).strip().splitlines()] == ["make run", "make test"]
    assert text.index(block.group(0)) < text.index("## ")


def test_readme_documents_every_setting() -> None:
    from service.core.config import Settings
    from worker.jobs.settings import WorkerSettings

    text = (REPO / "README.md").read_text()
    documented = set(re.findall(r"^\| `LOSSDOCTOR_([A-Z_]+)` \|", text, re.M))
    fields = {name.upper() for name in [*Settings.model_fields, *WorkerSettings.model_fields]}
    assert documented == fields


def _readme_commands() -> list[list[str]]:
    """The ``lossdoctor`` command lines of the README's Commands table, options in brackets opened up."""
    text = (REPO / "README.md").read_text()
    table = text[text.index("## Commands") : text.index("## Settings")]
    found = []
    for cell in re.findall(r"^\| `(lossdoctor [^`]+)`", table, re.M):
        tokens = cell.replace("[", " ").replace("]", " ").split()
        found.append([t for t in tokens if t not in ("…", "...")])
    return found


def test_every_command_in_the_readmes_table_exists_with_its_options() -> None:
    import argparse

    parser = build_parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    commands = _readme_commands()
    assert {c[1] for c in commands} >= {"up", "api", "worker", "redis", "diagnose", "submit"}
    for command in commands:
        assert command[1] in subcommands, command
        if command[1] == "diagnose":  # parses its own arguments
            continue
        known = subcommands[command[1]]._option_string_actions
        for option in (t for t in command if t.startswith("--")):
            assert option in known, (command, option)


def test_the_readmes_docker_and_make_commands_name_what_exists() -> None:
    text = (REPO / "README.md").read_text()
    assert "docker run --rm lossdoctor lossdoctor keys new team > team.key" in text
    assert "-v lossdoctor-data:/data" in text  # the volume the Dockerfile declares
    assert "make run PORT=8001" in text and "--profile gpu" in text
    assert build_parser().parse_args(["keys", "new", "team"]).tenant == "team"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_takes_another_port() -> None:
    done = subprocess.run(
        ["make", "-n", "run", "PORT=8001", "REDIS_PORT=6391"], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert "lossdoctor up --host 127.0.0.1 --port 8001 --redis-port 6391" in done.stdout
