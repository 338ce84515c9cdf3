"""The client stays light: importing it pulls in neither torch nor numpy nor the server's libraries, and it
works in a process where they cannot be imported at all."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "numpy", "fastapi", "starlette", "redis", "rq", "uvicorn", "sklearn", "service", "worker")


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_importing_the_client_loads_no_heavy_module() -> None:
    code = (
        "import sys; import lossdoctor.client; from lossdoctor import Client, LossdoctorError; "
        "import lossdoctor.client_cli; Client('http://x'); "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_client_works_where_the_heavy_packages_are_not_installed() -> None:
    # a finder that refuses every heavy package stands in for a client-only install
    code = f"""
import importlib.abc, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {HEAVY!r}:
            raise ImportError('not installed: ' + name)
sys.meta_path.insert(0, Absent())
import httpx
from lossdoctor import Client
def handler(request):
    body = {{'id': 'job_1', 'status': 'succeeded', 'result': {{'diagnosis': {{'healthy': True}}}}}}
    return httpx.Response(200, json=body)
job = Client('http://x', transport=httpx.MockTransport(handler)).wait('job_1', timeout=1)
print(job.diagnosis.healthy)
"""
    result = run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_the_monitor_loads_torch_but_nothing_of_the_server() -> None:
    server = ("fastapi", "starlette", "redis", "rq", "uvicorn", "sklearn", "service")
    code = f"import sys; from lossdoctor import Monitor; print(sorted(m for m in {server!r} if m in sys.modules))"
    result = run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
