"""In headless Chromium from the real stack: a report opened from its signed ``report_url`` with API keys
on (and refused without the token), and ``/docs`` and ``/redoc`` rendered with every host but the
service's own unreachable, as on a machine without internet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lossdoctor_stack import Stack
from test_report_browser import BROWSER, _browse, needs_browser

from service.core.security import new_key

pytestmark = pytest.mark.slow

KEY, ENTRY = new_key("acme")
AUTH = {"Authorization": f"Bearer {KEY}"}
#: Chromium resolves no host but loopback: any asset from a CDN would fail to load.
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


@needs_browser
def test_a_browser_opens_the_report_from_its_signed_link(make_stack: Any, spec: dict[str, Any], tmp_path: Path) -> None:
    stack: Stack = make_stack(api_keys=ENTRY, report_secret="s" * 40)
    job = stack.submit(spec, headers=AUTH)
    link = stack.client.get(f"/v1/jobs/{job['id']}", headers=AUTH).json()["report_url"]
    assert "token=" in link
    opened = _browse(link, tmp_path / "with-token", "--dump-dom")
    assert opened.returncode == 0 and f'data-job-id="{job["id"]}"' in opened.stdout, opened.stderr[-2000:]
    bare = _browse(link.split("?", 1)[0], tmp_path / "without-token", "--dump-dom")
    assert f'data-job-id="{job["id"]}"' not in bare.stdout and "unauthorized" in bare.stdout


@needs_browser
@pytest.mark.parametrize("page,marker", [("/docs", "swagger-ui"), ("/redoc", "redoc")])
def test_the_api_docs_render_without_internet(stack: Stack, tmp_path: Path, page: str, marker: str) -> None:
    assert BROWSER is not None
    dom = _browse(f"{stack.base_url}{page}", tmp_path / "profile", OFFLINE, "--virtual-time-budget=8000", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    # the documentation UI built itself from local assets: it lists the operations of /openapi.json
    assert marker in dom.stdout.lower()
    assert "create_job" in dom.stdout or "/v1/jobs" in dom.stdout, dom.stdout[:2000]
    assert "ERR_NAME_NOT_RESOLVED" not in dom.stderr
