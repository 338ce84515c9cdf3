"""The Docker and compose files, the Makefile, CI script and README, checked without a Docker engine.

The commands the images run are parsed by the same ``lossdoctor`` argument parser the tests drive,
so an image can only run a command that the suite exercises.
"""

from __future__ import annotations

import json
import re
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
    assert _parses(services["worker-cpu"]["command"]) == "worker"
    for name in ("api", "worker", "worker-cpu"):
        assert services[name]["environment"]["LOSSDOCTOR_REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_compose_will_not_start_the_api_without_keys(compose: dict[str, Any]) -> None:
    keys = compose["services"]["api"]["environment"]["LOSSDOCTOR_API_KEYS"]
    # compose's ${VAR:?message} refuses to start when VAR is unset or empty
    assert keys.startswith("${LOSSDOCTOR_API_KEYS:?") and keys.endswith("}")
    assert "0.0.0.0" in compose["services"]["api"]["command"]


def test_gpu_worker_reserves_an_nvidia_gpu_and_a_cpu_worker_is_a_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert services["worker"]["build"]["args"]["TORCH_VARIANT"] == "cu124"
    assert services["worker-cpu"]["profiles"] == ["worker-cpu"]
    assert services["worker-cpu"]["build"]["args"]["TORCH_VARIANT"] == "cpu"
    assert "deploy" not in services["worker-cpu"]


def test_dockerfile_selects_torch_by_build_arg_and_runs_lossdoctor() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert re.search(r"^ARG TORCH_VARIANT=cpu", text, re.M)
    assert "download.pytorch.org/whl/${TORCH_VARIANT}" in text
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))  # type: ignore[union-attr]
    assert _parses(cmd) == "up"


def test_makefile_and_ci() -> None:
    makefile = (REPO / "Makefile").read_text()
    for target in ("install", "run", "test"):
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
    from worker.settings import WorkerSettings

    text = (REPO / "README.md").read_text()
    documented = set(re.findall(r"^\| `LOSSDOCTOR_([A-Z_]+)` \|", text, re.M))
    fields = {name.upper() for name in [*Settings.model_fields, *WorkerSettings.model_fields]}
    assert documented == fields
