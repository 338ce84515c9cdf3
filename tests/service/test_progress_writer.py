"""The task's progress writer over the in-memory store: progress reports merged into the job's
``progress`` at most every half second (never as events), other events stored at once."""

from __future__ import annotations

from service_fakes import MemoryJobStore

from worker.jobs.task import PROGRESS_EVERY_SECONDS, ProgressWriter


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _report(epochs: int) -> dict[str, object]:
    return {
        "type": "progress",
        "epochs_done": epochs,
        "epochs_total": 10,
        "elapsed_seconds": 0.1 * epochs,
        "eta_seconds": 1.0,
        "baseline": {"epoch": [1], "train_loss": [2.0], "val_loss": [2.1]},
    }


def test_progress_reports_are_throttled_merged_and_flushed() -> None:
    store = MemoryJobStore()
    store.create_job("job_1", {"budget_seconds": 5}, retention_seconds=60, timeout_seconds=60)
    store.mark_running("job_1", 1, {"name": "w1"})
    clock = Clock()
    write = ProgressWriter(store, "job_1", 1, clock=clock)
    write(_report(1))  # the first is written at once
    assert store.get_job("job_1")["progress"]["epochs_done"] == 1
    clock.t += PROGRESS_EVERY_SECONDS / 2
    write(_report(2))  # too soon: held back
    assert store.get_job("job_1")["progress"]["epochs_done"] == 1
    write({"type": "probe_finished", "probe": "p", "done": 1, "total": 2})  # an event takes the held one along
    progress = store.get_job("job_1")["progress"]
    assert progress["epochs_done"] == 2 and progress["done"] == 1 and progress["total"] == 2
    clock.t += PROGRESS_EVERY_SECONDS / 4
    write(_report(3))
    assert store.get_job("job_1")["progress"]["epochs_done"] == 2
    write.flush()  # before the job ends, the last one is written
    progress = store.get_job("job_1")["progress"]
    assert progress == {"done": 1, "total": 2, **{k: v for k, v in _report(3).items() if k != "type"}}
    assert [e["type"] for e in store.events("job_1")] == ["queued", "started", "probe_finished"]


def test_a_job_no_longer_running_is_left_alone() -> None:
    store = MemoryJobStore()
    store.create_job("job_2", {"budget_seconds": 5}, retention_seconds=60, timeout_seconds=60)
    store.mark_running("job_2", 1, {"name": "w1"})
    store.finish("job_2", 1, "cancelled")
    ProgressWriter(store, "job_2", 1)(_report(4))
    assert "epochs_done" not in store.get_job("job_2")["progress"]
