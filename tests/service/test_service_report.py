"""The report page: a drawn curve per run, the diagnosis in words, progress while the job runs."""

from __future__ import annotations

import json
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


# ---- the page answers "why is my loss not going down" ----------------------------------------------------

SPEC: dict[str, Any] = {
    "name": "demo",
    "data": {"source": "builtin", "name": "iris"},
    "model": {"layers": [{"type": "linear", "out_features": 3}]},
    "training": {"loss": "cross_entropy", "optimizer": "adam", "lr": 3.0, "epochs": 3},
}


def _probe(name: str, lr: float | None, final: float | None, stop: str = "completed", **extra: Any) -> dict[str, Any]:
    changes = {"training.lr": lr} if lr is not None else extra.pop("changes", {})
    return {
        "name": name,
        "family": "lr_sweep" if lr is not None else extra.pop("family", name),
        "changes": changes,
        "history": {"epoch": [1, 2], "train_loss": [1.1, final], "val_loss": [1.1, final]},
        "summary": {"initial_loss": 1.1, "final_loss": final, "relative_decrease": None, "diverged": final is None},
        "stop_reason": stop,
    }


FULL: dict[str, Any] = {
    "baseline": {
        "config": {"lr": 3.0},
        "history": {"epoch": [1, 2, 3], "train_loss": [1.4, 268.0, 1.31], "val_loss": [1.4, 200.0, 1.3]},
        "layers": [
            {"name": "0.linear", "grad_norm": [0.5, 40.0, 3.0], "update_ratio": [], "dead_fraction": [0.38, 1.0, 1.0]},
            {"name": "2.linear", "grad_norm": [0.2, 9.0, 1.0], "update_ratio": [], "dead_fraction": []},
        ],
        "summary": {"initial_loss": 1.4, "final_loss": 1.31},
        "chance_loss": 1.1,
        "stop_reason": "completed",
    },
    "checks": [
        {"name": "non_finite", "flagged": False, "detail": "all inputs and labels are finite", "numbers": {}},
        {"name": "input_scale", "flagged": True, "detail": "feature 3 has |mean|+std 4.1e+04", "numbers": {}},
    ],
    "probes": [
        _probe("lr_x0.01", 0.03, 0.245),
        _probe("lr_x0.1", 0.3, 0.9),
        _probe("lr_x10", 30.0, None, stop="non_finite"),
        _probe("shuffled_labels", None, 1.09, stop="settled", changes={"data.y": "labels permuted"}),
    ],
    "diagnosis": {
        "healthy": False,
        "primary_cause": "lr_too_high",
        "verdict_basis": "intervention",
        "complete": True,
        "findings": [
            {
                "cause": "lr_too_high",
                "confidence": 0.93,
                "evidence": ["with lr 3 the train loss rose from 1.41 to a peak of 268"],
                "fix": {"training.lr": 0.03},
                "confirmed": True,
                "recovered": 0.97,
                "basis": "intervention",
            },
            {
                "cause": "dead_relus",
                "confidence": 0.6,
                "evidence": ["100% of 1.relu's units output zero"],
                "fix": {"training.lr": "lower"},
                "confirmed": False,
                "recovered": 0.0,
                "basis": "symptoms",
            },
        ],
        "summary": "The learning rate is too high.",
        "notes": ["1 probes stopped after 2 of their epochs: the baseline was settled"],
    },
}


def _finished(result: dict[str, Any], **fields: Any) -> str:
    return render_report(_job("succeeded", result=result, spec=SPEC, finished_at="2026-01-01T00:00:05.000Z", **fields))


def test_report_shows_every_part_of_the_answer() -> None:
    html = _finished(FULL)
    for chart in ("lr-sweep", "probes", "layers-grad-norm", "layers-dead-fraction", "overview", "curve"):
        assert f'data-chart="{chart}"' in html, chart
    # probes on one axis with their stop reasons
    assert re.findall(r'<tr data-run="([^"]+)" data-stop-reason="([^"]*)"', html) == [
        ("baseline", "completed"),
        ("lr_x0.01", "completed"),
        ("lr_x0.1", "completed"),
        ("lr_x10", "non_finite"),
        ("shuffled_labels", "settled"),
    ]
    assert "stopped early: verdict settled" in html and "stopped: loss went non-finite" in html
    # the flagged check comes first, highlighted, with its detail
    checks = re.findall(r'<tr class="check( flagged)?" data-check="([^"]+)" data-flagged="(\w+)"', html)
    assert checks == [(" flagged", "input_scale", "true"), ("", "non_finite", "false")]
    assert "feature 3 has |mean|+std 4.1e+04" in html
    assert "1 probes stopped after 2 of their epochs" in html  # the notes
    assert 'data-verdict-basis="intervention"' in html


def test_lr_sweep_marks_chance_the_baseline_and_non_finite_runs() -> None:
    html = _finished(FULL)
    sweep = re.search(r'<svg class="chart" data-chart="lr-sweep".*?</svg>', html, re.S)
    assert sweep is not None
    svg = sweep.group(0)
    assert re.findall(r'data-lr="([^"]+)"', svg) == ["0.03", "0.3", "3", "30"]  # sorted, baseline among them
    assert 'class="point baseline"' in svg and ">baseline<" in svg and ">chance<" in svg
    assert re.search(r'<g class="point non-finite-run" data-lr="30">.*?non-finite</text></g>', svg)
    assert "learning rate (log scale)" in svg


def test_a_symptom_is_never_shown_as_confirmed() -> None:
    html = _finished(FULL)
    findings = dict(re.findall(r'<article class="finding" data-cause="(\w+)" data-basis="(\w+)">', html))
    assert findings == {"lr_too_high": "intervention", "dead_relus": "symptoms"}
    dead = html[html.index('data-cause="dead_relus"') :]
    dead = dead[: dead.index("</article>")]
    assert "suggested by symptoms, not confirmed" in dead and "confirmed by an intervention" not in dead
    assert "Cause (confirmed by an intervention): Learning rate too high" in html


def test_a_symptom_as_primary_reads_as_likely_not_confirmed() -> None:
    result = {**FULL, "diagnosis": {**FULL["diagnosis"], "primary_cause": "dead_relus", "verdict_basis": "symptoms"}}
    html = _finished(result)
    assert "Likely cause (from symptoms, not confirmed): Dead ReLUs" in html
    assert "(not confirmed by an intervention)" not in html  # "lower" is not a value: no spec is offered
    assert 'data-applied="false"' in html


def test_inconclusive_verdict_names_its_candidates() -> None:
    diagnosis = {**FULL["diagnosis"], "primary_cause": None, "verdict_basis": "inconclusive", "complete": False}
    html = _finished({**FULL, "diagnosis": diagnosis})
    assert 'class="diagnosis inconclusive"' in html and 'data-verdict-basis="inconclusive"' in html
    assert "Inconclusive: the evidence does not decide. Candidates: Learning rate too high, Dead ReLUs" in html
    assert "not every planned run finished" in html and "<h3>Candidates</h3>" in html
    assert 'class="fixed-spec"' not in html  # no primary cause, no fix to apply


def test_the_corrected_spec_is_the_jobs_spec_with_the_fix_applied() -> None:
    import html as html_lib
    import json

    page = _finished(FULL)
    block = re.search(r'<pre id="fixed-spec-json">(.*?)</pre>', page, re.S)
    assert block is not None
    fixed = json.loads(html_lib.unescape(block.group(1)))
    assert fixed == {**SPEC, "training": {**SPEC["training"], "lr": 0.03}}
    assert '<button type="button" id="copy-fixed-spec">' in page and "<script>" in page


def test_copy_script_is_the_one_the_policy_allows() -> None:
    import base64
    import hashlib

    from service.report.page import COPY_SCRIPT_HASH

    page = _finished(FULL)
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert COPY_SCRIPT_HASH == f"'sha256-{digest}'"


def test_a_name_built_to_inject_markup_is_text() -> None:
    evil = '<img src=x onerror=alert(1)>"><script>alert(2)</script>'
    page = _finished(FULL, name=evil)
    assert "<img" not in page and "alert(2)</script>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_running_report_draws_the_baseline_so_far_from_its_events() -> None:
    from service.report.page import live_history

    events = [
        {"type": "started"},
        {
            "type": "baseline_epoch",
            "from_epoch": 1,
            "epoch": 2,
            "epochs": 5,
            "train_loss": [1.1, 0.9],
            "val_loss": [1.2, 1.0],
        },
        {"type": "baseline_epoch", "from_epoch": 3, "epoch": 3, "epochs": 5, "train_loss": [None], "val_loss": [None]},
    ]
    assert live_history(events).train_loss == [1.1, 0.9, None]
    assert live_history([*events, {"type": "started"}]).train_loss == []  # a new attempt starts over
    html = render_report(_job("running", started_at="2026-01-01T00:00:01.000Z"), events=events)
    assert 'data-epochs-trained="3"' in html and "baseline: 3 of 5 epochs trained" in html
    live = html[html.index('data-probe="baseline-live"') :]
    assert "<polyline" in live[: live.index("</figure>")] and 'http-equiv="refresh"' in html


def test_report_route_sends_its_policy(client: TestClient, store: MemoryJobStore, spec: dict[str, Any]) -> None:
    from service.report.page import COPY_SCRIPT_HASH

    job = client.post("/v1/jobs", json=spec).json()
    store.mark_running(job["id"], 1, {"name": "w"})
    store.finish(job["id"], 1, "succeeded", result=FULL)
    response = client.get(f"/v1/jobs/{job['id']}/report")
    policy = response.headers["content-security-policy"]
    assert f"script-src {COPY_SCRIPT_HASH}" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1]


def test_page_draws_without_a_plotting_library_and_fast() -> None:
    import subprocess
    import sys

    code = (
        "import json,sys,time;job=json.load(sys.stdin);t=time.perf_counter();"
        "from service.report.page import render_report;render_report(job);"
        "print(time.perf_counter()-t, 'matplotlib' in sys.modules)"
    )
    job = {"id": "job_1", "status": "succeeded", "result": FULL}
    out = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(job), capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[1] == "False"
    assert float(out[0]) < 5.0  # import and first render; about 0.3 s on an idle machine
