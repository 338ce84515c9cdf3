"""The client and its command line against the real stack (valkey, uvicorn, a ``lossdoctor worker`` running
the real engine): ``submit --wait`` on a healthy and a faulty tiny spec, the documented exit codes,
``status``/``cancel``/``list``, and the typed models read back a real job without losing a field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lossdoctor_stack import REPO, Stack

from lossdoctor import Client, LossdoctorError
from lossdoctor.client_cli import EXIT_CAUSE, EXIT_FAILED, EXIT_OK, EXIT_USAGE

pytestmark = pytest.mark.slow

MODEL = {"layers": [{"type": "linear", "out_features": 16}, {"type": "relu"}, {"type": "linear", "out_features": 3}]}
#: Iris trains well in 30 epochs of Adam: about two seconds, diagnosed healthy.
HEALTHY = {
    "data": {"source": "builtin", "name": "iris"},
    "model": MODEL,
    "probes": ["shuffled_labels"],
    "training": {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.01, "epochs": 30, "batch_size": 32},
    "budget_seconds": 30,
    "device": "cpu",
}
#: SGD with lr 50 overshoots; the lr sweep confirms lr_too_high (about two seconds).
FAULTY = {
    **HEALTHY,
    "probes": ["lr_sweep"],
    "training": {"loss": "cross_entropy", "optimizer": "sgd", "lr": 50.0, "epochs": 15, "batch_size": 32},
}


def cli(*args: str, url: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "LOSSDOCTOR_URL": url, **env}
    environment.pop("LOSSDOCTOR_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "lossdoctor", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=environment,
    )


def write(tmp_path: Path, spec: dict[str, Any], name: str = "spec.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return str(path)


def test_submit_wait_on_a_healthy_spec_exits_0(stack: Stack, tmp_path: Path) -> None:
    result = cli("submit", write(tmp_path, HEALTHY), "--wait", url=stack.base_url)
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("job_") and "healthy: yes" in lines
    assert lines[-1] == f"report: {stack.base_url}/v1/jobs/{lines[0]}/report"
    assert f"{lines[0]}: succeeded" in result.stderr  # progress on stderr


def test_submit_wait_on_a_faulty_spec_prints_the_cause_and_fix_and_exits_3(stack: Stack, tmp_path: Path) -> None:
    result = cli("submit", write(tmp_path, FAULTY), "--wait", "--url", stack.base_url, url="http://127.0.0.1:1")
    assert result.returncode == EXIT_CAUSE, result.stdout + result.stderr
    out = result.stdout
    assert "cause: lr_too_high (confidence" in out and "confirmed" in out
    assert "evidence: " in out and "fix: training.lr = " in out
    job_id = out.splitlines()[0]
    assert f"report: {stack.base_url}/v1/jobs/{job_id}/report" in out
    page = stack.client.get(f"/v1/jobs/{job_id}/report")
    assert page.status_code == 200 and "lr_too_high" in page.text
    as_json = cli("status", job_id, "--json", url=stack.base_url)
    assert as_json.returncode == EXIT_OK
    assert json.loads(as_json.stdout)["result"]["diagnosis"]["primary_cause"] == "lr_too_high"


def test_a_bad_spec_exits_2_naming_the_field(stack: Stack, tmp_path: Path) -> None:
    bad = {**HEALTHY, "training": {**HEALTHY["training"], "optimizer": "sgdd"}}
    result = cli("submit", write(tmp_path, bad), url=stack.base_url)
    assert result.returncode == EXIT_USAGE
    assert "422" in result.stderr and "body.training.optimizer" in result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert cli("submit", str(broken), url=stack.base_url).returncode == EXIT_USAGE
    assert cli("status", "job_nope", url=stack.base_url).returncode == 1  # 404


def test_cancel_status_and_list_and_a_cancelled_wait_exits_4(make_stack: Any, tmp_path: Path) -> None:
    stack = make_stack()  # no worker: jobs stay queued
    waiting = subprocess.Popen(
        [sys.executable, "-m", "lossdoctor", "submit", write(tmp_path, HEALTHY), "--wait", "--url", stack.base_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert waiting.stdout is not None
    job_id = waiting.stdout.readline().strip()
    assert job_id.startswith("job_")
    other = cli("submit", write(tmp_path, HEALTHY), url=stack.base_url).stdout.strip()
    listed = cli("list", url=stack.base_url)
    assert listed.returncode == EXIT_OK
    assert [line.split("\t")[:2] for line in listed.stdout.splitlines()] == [[other, "queued"], [job_id, "queued"]]
    assert cli("list", "--limit", "1", url=stack.base_url).stdout.count("job_") == 1
    status = cli("status", job_id, url=stack.base_url)
    assert "status: queued" in status.stdout and "progress: 0/" in status.stdout
    cancelled = cli("cancel", job_id, url=stack.base_url)
    assert cancelled.returncode == EXIT_OK and cancelled.stdout.strip() == f"{job_id} cancelled"
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == EXIT_FAILED, out + err
    assert "status: cancelled" not in out and f"report: {stack.base_url}/v1/jobs/{job_id}/report" in out
    # cancelling again is a no-op that says so (a retried cancel must not fail); an ended job cannot be cancelled
    again = cli("cancel", job_id, url=stack.base_url)
    assert again.returncode == EXIT_OK and again.stdout.strip() == f"{job_id} cancelled"
    assert "HTTP Request" not in again.stderr


def contained(small: Any, big: Any, path: str = "") -> list[str]:
    """Paths where ``small``'s values are missing from or differ in ``big``."""
    if isinstance(small, dict):
        if not isinstance(big, dict):
            return [path]
        return [
            p
            for k, v in small.items()
            for p in ([f"{path}.{k}"] if k not in big else contained(v, big[k], f"{path}.{k}"))
        ]
    if isinstance(small, list):
        if not isinstance(big, list) or len(big) != len(small):
            return [path]
        return [p for i, (a, b) in enumerate(zip(small, big, strict=True)) for p in contained(a, b, f"{path}[{i}]")]
    return [] if small == big else [path]


def test_the_typed_models_round_trip_a_real_job(stack: Stack) -> None:
    with Client(stack.base_url) as client:
        job = client.wait(client.submit(FAULTY).id, timeout=120)
        raw = stack.client.get(f"/v1/jobs/{job.id}").json()
        assert job.status == "succeeded" and job.result is not None and job.diagnosis is not None
        assert job.diagnosis.primary_cause == "lr_too_high" and job.diagnosis.primary is not None
        assert job.result.baseline["history"]["train_loss"] == raw["result"]["baseline"]["history"]["train_loss"]
        # nothing the server sent is lost or changed by reading it into the models and writing it back
        assert contained(raw, job.model_dump(mode="json")) == []
        listed = next(client.list(status="succeeded"))
        assert listed.id == job.id and listed.result is None
        with pytest.raises(LossdoctorError) as caught:
            client.submit({**FAULTY, "budget_seconds": -1})
        assert caught.value.status == 422 and caught.value.errors[0]["loc"] == ["body", "budget_seconds"]
        with pytest.raises(LossdoctorError) as missing:
            client.get("job_000000000000000000000000")
        assert missing.value.status == 404


def test_the_same_idempotency_key_returns_the_same_job(stack: Stack) -> None:
    with Client(stack.base_url) as client:
        first = client.submit(HEALTHY, idempotency_key="ci-build-17")
        again = client.submit(HEALTHY, idempotency_key="ci-build-17")
        assert first.id == again.id
        assert client.wait(first.id, timeout=120).status == "succeeded"


def test_curves_from_a_csv(stack: Stack, tmp_path: Path) -> None:
    falling = tmp_path / "falling.csv"
    falling.write_text(
        "epoch,train_loss,val_loss\n"
        + "".join(f"{e},{2.3 * 0.5**e:.4f},{2.3 * 0.5**e + 0.01:.4f}\n" for e in range(1, 13))
    )
    result = cli("curves", str(falling), "--n-classes", "10", url=stack.base_url)
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    assert result.stdout.splitlines()[0] == "healthy: yes"
    diverging = tmp_path / "diverging.csv"
    diverging.write_text("epoch,train_loss\n1,2.3\n2,9.8\n3,nan\n4,\n")
    bad = cli("curves", str(diverging), "--n-classes", "10", url=stack.base_url)
    assert bad.returncode == EXIT_CAUSE and "cause: lr_too_high" in bad.stdout
    no_column = tmp_path / "other.csv"
    no_column.write_text("epoch,accuracy\n1,0.3\n")
    missing = cli("curves", str(no_column), "--n-classes", "10", url=stack.base_url)
    assert missing.returncode == EXIT_USAGE and "no tag looks like the train loss" in missing.stderr
    assert "--train-tag with one of: accuracy" in missing.stderr
    assert cli("curves", str(falling), url=stack.base_url).returncode == EXIT_USAGE  # neither chance nor classes


def test_cancelling_a_finished_job_exits_1(stack: Stack, tmp_path: Path) -> None:
    job_id = cli("submit", write(tmp_path, HEALTHY), "--wait", url=stack.base_url).stdout.splitlines()[0]
    refused = cli("cancel", job_id, url=stack.base_url)
    assert refused.returncode == 1 and "409" in refused.stderr and "succeeded" in refused.stderr


def test_an_uploaded_csv_trains_as_a_dataset_job(stack: Stack, tmp_path: Path) -> None:
    rows = "".join(f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}\n" for i in range(60))
    data = tmp_path / "train.csv"
    data.write_text("a,b,label\n" + rows)
    with Client(stack.base_url) as client:
        dataset = client.upload_dataset(data, label_column="label")
        assert dataset.id.startswith("ds_") and dataset.x_shape == [60, 2] and dataset.n_samples == 60
        spec = {
            **HEALTHY,
            "data": {"source": "dataset", "id": dataset.id},
            "model": {
                "layers": [
                    {"type": "linear", "out_features": 8},
                    {"type": "relu"},
                    {"type": "linear", "out_features": 2},
                ]
            },
        }
        job = client.wait(client.submit(spec).id, timeout=120)
        assert job.status == "succeeded" and job.result is not None and job.result.baseline["history"]["train_loss"]
        with pytest.raises(LossdoctorError) as caught:
            client.upload_dataset(data, label_column="nope")
        assert caught.value.status == 422 and caught.value.errors[0]["loc"] == ["body", "label_column"]
