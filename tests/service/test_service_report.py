"""The report page: a drawn curve per run, the diagnosis in words, progress while the job runs."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from service_fakes import MemoryJobStore

from service.report.charts import as_floats, wants_log_scale
from service.report.page import render_report

RESULT: dict[str, Any] = {
    "baseline": {
        "config": {},
        "history": {"epoch": [1, 2, 3], "train_loss": [2.3, 9.8, None], "val_loss": [2.3, 12.0, None]},
        "layers": [],
    },
    "probes": [
        {
            "name": "lr_x0.1",
            "changes": {"training.lr": 0.0001},
            "history": {"epoch": [1, 2, 3], "train_loss": [2.3, 0.9, 0.21], "val_loss": [2.3, 1.0, 0.3]},
            "summary": {
                "initial_loss": 2.3,
                "final_loss": 0.21,
                "relative_decrease": 0.91,
                "diverged": False,
            },
        },
        {
            "name": "shuffled_labels",
            "changes": {"data.labels": "shuffled"},
            "history": {"epoch": [1, 2], "train_loss": [2.3, 2.29], "val_loss": [2.3, 2.31]},
            "summary": {"initial_loss": 2.3, "final_loss": 2.29, "relative_decrease": 0.0, "diverged": False},
        },
    ],
    "diagnosis": {
        "healthy": False,
        "primary_cause": "lr_too_high",
        "findings": [
            {
                "cause": "lr_too_high",
                "confidence": 0.93,
                "evidence": ["train loss rose from 2.30 to 9.8", "<script>alert(1)</script>"],
                "fix": {"training.lr": 0.001},
            }
        ],
        "summary": "The learning rate is too high.",
    },
}


def _job(status: str, **fields: Any) -> dict[str, Any]:
    job = {
        "id": "job_1",
        "name": "demo",
        "status": status,
        "progress": {"done": 1, "total": 4},
        "spec": {},
        "result": None,
        "error": None,
        "created_at": "2026-01-01T00:00:00.000Z",
        "started_at": None,
        "finished_at": None,
    }
    job.update(fields)
    return job


def test_finished_report_draws_every_run_and_the_findings() -> None:
    html = render_report(_job("succeeded", result=RESULT, finished_at="2026-01-01T00:00:05.000Z"))
    probes = re.findall(r'<figure class="curve" data-probe="([^"]+)">\s*<svg', html)
    assert probes == ["baseline", "lr_x0.1", "shuffled_labels"]
    assert 'data-primary-cause="lr_too_high"' in html and "Learning rate too high" in html
    assert "set training.lr to 0.001" in html and "confidence 93%" in html
    assert "train loss rose from 2.30 to 9.8" in html and "The learning rate is too high." in html
    assert "<script>" not in html  # evidence is escaped
    assert 'http-equiv="refresh"' not in html


def test_running_report_shows_progress_and_reloads() -> None:
    html = render_report(_job("running", started_at="2026-01-01T00:00:01.000Z"), refresh_seconds=3)
    assert '<meta http-equiv="refresh" content="3">' in html
    assert '<progress value="1" max="4">' in html
    assert re.findall(r'<figure class="curve" data-probe="([^"]+)"', html) == ["baseline-live"]


def test_failed_report_shows_the_error() -> None:
    html = render_report(_job("failed", error={"type": "timeout", "message": "ran past 31 s"}))
    assert 'class="error"' in html and "ran past 31 s" in html


def test_non_finite_points_are_gaps_and_wide_ranges_use_a_log_axis() -> None:
    values = as_floats([1.0, None, float("inf"), 2.0])
    assert values[0] == 1.0 and values[3] == 2.0 and all(v != v for v in values[1:3])
    assert wants_log_scale([[1000.0, 1.0]]) and not wants_log_scale([[2.3, 1.0]])
    assert not wants_log_scale([[-1.0, 1000.0]])


def test_report_route_serves_html(client: TestClient, store: MemoryJobStore, spec: dict[str, Any]) -> None:
    job = client.post("/v1/jobs", json=spec).json()
    queued = client.get(f"/v1/jobs/{job['id']}/report")
    assert queued.status_code == 200 and queued.headers["content-type"].startswith("text/html")
    assert 'data-status="queued"' in queued.text
    store.mark_running(job["id"], 1, {"name": "w"})
    store.finish(job["id"], 1, "succeeded", result=RESULT)
    done = client.get(f"/v1/jobs/{job['id']}/report").text
    assert done.count('class="curve"') == 3
    assert client.get("/v1/jobs/job_nope/report").status_code == 404


def test_fix_written_as_a_sentence_reads_as_one() -> None:
    from service.report.words import changes_text

    assert changes_text({"training.lr": 0.001}) == ["set training.lr to 0.001"]
    assert changes_text({"data": "check the label column"}) == ["data: check the label column"]
