"""Report links through the real stack with API keys on: a plain HTTP client with no Authorization header
opens a job's report from its ``report_url``, not without the token, and job A's token never opens job B."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from lossdoctor_stack import Stack

from service.core.security import new_key

pytestmark = pytest.mark.slow

KEY, ENTRY = new_key("acme")
AUTH = {"Authorization": f"Bearer {KEY}"}


def test_the_link_opens_its_report_without_a_key(make_stack: Any, spec: dict[str, Any]) -> None:
    stack: Stack = make_stack(api_keys=ENTRY, report_secret="r" * 40)  # no worker: the page shows progress
    job_a = stack.submit(spec, headers=AUTH)
    job_b = stack.submit({**spec, "name": "b"}, headers=AUTH)
    done = stack.client.get(f"/v1/jobs/{job_a['id']}", headers=AUTH)
    link = done.json()["report_url"]
    assert link.startswith(stack.base_url + f"/v1/jobs/{job_a['id']}/report?token=")
    with httpx.Client(timeout=30) as browser:  # no Authorization header, as a browser following a link
        page = browser.get(link)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert f'data-job-id="{job_a["id"]}"' in page.text
        assert browser.get(f"{stack.base_url}/v1/jobs/{job_a['id']}/report").status_code == 401
        token = parse_qs(urlsplit(link).query)["token"][0]
        other = browser.get(f"{stack.base_url}/v1/jobs/{job_b['id']}/report", params={"token": token})
        assert other.status_code == 401 and other.headers["content-type"] == "application/problem+json"
        assert browser.get(f"{stack.base_url}/v1/jobs/{job_a['id']}", params={"token": token}).status_code == 401
