"""The ``lossdoctor`` command: subcommands parse, ``python -m lossdoctor`` works, the API skips torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lossdoctor.cli import build_parser


def test_subcommands_parse() -> None:
    parser = build_parser()
    up = parser.parse_args(["up", "--port", "9000"])
    assert (up.command, up.host, up.port) == ("up", "127.0.0.1", 9000)
    assert parser.parse_args(["worker", "--burst"]).burst is True
    assert parser.parse_args(["api"]).port == 8000
    with pytest.raises(SystemExit):
        parser.parse_args(["nonsense"])


def test_python_dash_m_lossdoctor_help() -> None:
    result = subprocess.run([sys.executable, "-m", "lossdoctor", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for name in ("up", "api", "worker", "diagnose"):
        assert name in result.stdout


def test_the_api_process_never_imports_torch() -> None:
    code = "import sys; import service.main; from fastapi.testclient import TestClient; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
