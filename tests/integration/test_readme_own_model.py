"""The README's three lines for your own model (export, upload, submit) run as written against the real
stack, with only the service's address changed: the job on the exported MLP is diagnosed lr_too_high."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from lossdoctor_stack import Stack

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- own-model-lines:"


def readme_lines() -> str:
    """The ``sh`` block right after the marker comment."""
    text = README.read_text()
    block = re.search(r"```sh\n(.*?)```", text[text.index(MARKER) :], re.S)
    assert block is not None
    return block.group(1)


def test_the_readme_lines_export_upload_and_submit(stack: Stack, tmp_path: Path) -> None:
    lines = readme_lines()
    assert len(lines.strip().splitlines()) == 3
    assert "http://127.0.0.1:8000" in lines
    script = lines.replace("http://127.0.0.1:8000", stack.base_url)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "LOSSDOCTOR_URL": stack.base_url,
    }
    env.pop("LOSSDOCTOR_API_KEY", None)
    done = subprocess.run(
        ["bash", "-e", "-c", script], capture_output=True, text=True, timeout=180, cwd=tmp_path, env=env
    )
    assert (tmp_path / "model.onnx").is_file(), done.stderr
    assert "cause: lr_too_high" in done.stdout, (done.stdout, done.stderr[-2000:])
    assert "fix: training.lr" in done.stdout
