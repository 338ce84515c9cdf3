"""Crafted paths, ids and uploads on the real stack: every answer is a problem or a success, never a 500,
and an id that is not a job id reads as absent for every tenant (no existence leak)."""

from __future__ import annotations

from typing import Any

import pytest
from lossdoctor_stack import Stack

from service.core.security import new_key

pytestmark = pytest.mark.slow

KEY_A, ENTRY_A = new_key("acme")
KEY_B, ENTRY_B = new_key("globex")

#: Ids built around a real job id ``{real}`` (its other keys in Redis, encodings, case) and made-up ones.
CRAFTED_IDS = (
    "{real}:events",
    "{real}:cancel",
    "{real}%3Aevents",
    "{real}:events:x",
    "{real}%0A",
    "{real}%00",
    "{REAL}",
    "job_" + "0" * 24,
    "job_" + "0" * 24 + ":events",
    "job_*",
    "*",
    "%00",
    "%FF",
    "%C3%A9",
    "%20",
    "a" * 4000,
)
#: Routes that take a job id, with the method each is called with.
JOB_ROUTES = (
    ("GET", "/v1/jobs/{id}"),
    ("GET", "/v1/jobs/{id}/events"),
    ("GET", "/v1/jobs/{id}/report"),
    ("POST", "/v1/jobs/{id}/cancel"),
)
#: Uploads that once gave a 500 or sit at the edges of the CSV reader, with the answers they may get.
CRAFTED_CSVS: tuple[tuple[str, bytes, tuple[int, ...]], ...] = (
    ("cr-only line endings", b"a,b,label\r1,2,0\r3,4,1\r", (201,)),
    ("crlf line endings", b"a,b,label\r\n1,2,0\r\n3,4,1\r\n", (201,)),
    ("a cell over 131,072 characters", b"a,label\n" + b"7" * 140_000 + b",0\n1,1\n", (422,)),
    ("a header cell over 131,072 characters", b"a" * 140_000 + b",label\n1,0\n", (422,)),
    ("a NUL byte", b"a,label\n1\x00,0\n2,1\n", (422,)),
    ("an unterminated quote", b'a,label\n"1,0\n2,1\n', (422,)),
    ("a quoted line break", b'a,label\n"1\n",0\n2,1\n', (201, 422)),
    ("only a byte order mark", b"\xef\xbb\xbf", (422,)),
    ("only line breaks", b"\r\r\n\n\r", (422,)),
    ("not UTF-8", b"a,label\n\xff\xfe,0\n", (422,)),
    ("a lone quote", b'"', (422,)),
)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _paths(real: str) -> list[tuple[str, str, str]]:
    """(method, path, the id in it) for every job route and crafted id."""
    return [
        (method, template.format(id=crafted.format(real=real, REAL=real.upper())), crafted)
        for crafted in CRAFTED_IDS
        for method, template in JOB_ROUTES
    ]


def test_crafted_job_ids_are_404_for_the_owner_and_for_another_tenant(make_stack: Any, spec: dict[str, Any]) -> None:
    stack: Stack = make_stack(api_keys=f"{ENTRY_A},{ENTRY_B}")
    real = stack.client.post("/v1/jobs", json=spec, headers=_auth(KEY_A)).json()["id"]
    answers: dict[tuple[str, str], int] = {}
    for key in (KEY_A, KEY_B):
        for method, path, _ in _paths(real):
            response = stack.client.request(method, path, headers=_auth(key))
            answers[(key, path)] = response.status_code
            assert response.status_code < 500, (method, path, response.text)
            assert response.headers["content-type"] == "application/problem+json", (method, path)
            assert response.status_code == 404, (method, path, response.status_code)
    for method, template in JOB_ROUTES:  # the real id: its owner sees it, the other tenant gets the same 404
        path = template.format(id=real)
        assert stack.client.request(method, path, headers=_auth(KEY_B)).status_code == 404
        if method == "GET":
            assert stack.client.request(method, path, headers=_auth(KEY_A)).status_code == 200


def test_crafted_query_values_and_dataset_ids_are_never_a_500(stack: Stack) -> None:
    real = stack.submit(
        {
            "data": {"source": "builtin", "name": "iris"},
            "model": {"layers": [{"type": "linear", "out_features": 3}]},
            "training": {"loss": "cross_entropy", "epochs": 1},
        }
    )["id"]
    uploaded = stack.client.post("/v1/datasets", files={"file": ("d.csv", b"a,label\n1,0\n2,1\n")}).json()["id"]
    for crafted in (*CRAFTED_IDS, f"{uploaded}:meta", uploaded.upper()):
        value = crafted.format(real=real, REAL=real.upper())
        for path in (
            f"/v1/jobs?after={value}",
            f"/v1/jobs?status={value}",
            f"/v1/jobs?limit={value}",
            f"/v1/datasets/{value}",
        ):
            response = stack.client.get(path)
            assert response.status_code in (200, 404, 422), (path, response.status_code, response.text)
            assert response.status_code == 200 or response.headers["content-type"] == "application/problem+json"
    assert stack.client.get(f"/v1/datasets/{uploaded}").status_code == 200


@pytest.mark.parametrize(("what", "content", "statuses"), CRAFTED_CSVS, ids=[c[0] for c in CRAFTED_CSVS])
def test_crafted_csv_uploads_are_read_or_refused_never_a_500(
    stack: Stack, what: str, content: bytes, statuses: tuple[int, ...]
) -> None:
    response = stack.client.post("/v1/datasets", files={"file": ("d.csv", content)})
    assert response.status_code in statuses, (what, response.status_code, response.text)
    if response.status_code == 422:
        body = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert body["errors"][0]["loc"] == ["body", "file"] and body["detail"]
