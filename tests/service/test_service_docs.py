"""``/docs`` and ``/redoc`` render offline: every script, style sheet and icon they load is served by the
API itself (fastapi-offline's assets), none comes from a CDN."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

#: What each kind of asset must be served as.
MEDIA = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_reference_only_local_assets_that_answer(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert not re.search(r"https?://", html), re.findall(r"https?://[^\s\"'<>]+", html)
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assets += re.findall(r"""spec-url\s*=\s*["']([^"']+)["']""", html)
    assets += re.findall(r"""url:\s*['"]([^'"]+)['"]""", html)  # Swagger UI's spec URL
    scripts = [a for a in assets if a.endswith(".js")]
    assert scripts, f"no script found in {page}"
    for asset in assets:
        assert asset.startswith("/") and not asset.startswith("//"), asset
        fetched = client.get(asset)
        assert fetched.status_code == 200, asset
        kind = next((media for ending, media in MEDIA.items() if asset.endswith(ending)), "json")
        assert kind in fetched.headers["content-type"], (asset, fetched.headers["content-type"])
        assert len(fetched.content) > 100


def test_swagger_ui_does_not_call_the_online_validator(client: TestClient) -> None:
    assert '"validatorUrl": null' in client.get("/docs").text
