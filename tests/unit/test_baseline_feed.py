"""``baseline_epoch`` events: what is new since the last one, at most every half second, and a flush."""

from __future__ import annotations

from typing import Any

from worker.baseline_feed import MIN_INTERVAL_SECONDS, BaselineFeed
from worker.train.loop import RunRecord


def test_events_carry_new_epochs_at_most_every_half_second() -> None:
    now = [100.0]
    sent: list[dict[str, Any]] = []
    feed = BaselineFeed(sent.append, epochs=5, clock=lambda: now[0])
    rec = RunRecord(initial_loss=2.0, initial_val_loss=2.0)
    for i, (train, val) in enumerate([(1.5, 1.6), (1.2, 1.4), (float("nan"), None)]):
        rec.train_loss.append(train)
        rec.val_loss.append(val)
        feed(rec)
        now[0] += MIN_INTERVAL_SECONDS / 3 if i < 2 else 0.0
    assert sent == [{"type": "baseline_epoch", "from_epoch": 1, "epoch": 1, "epochs": 5,
                     "train_loss": [1.5], "val_loss": [1.6]}]  # epochs 2 and 3 came too soon
    feed.flush()
    assert sent[1] == {"type": "baseline_epoch", "from_epoch": 2, "epoch": 3, "epochs": 5,
                       "train_loss": [1.2, None], "val_loss": [1.4, None]}  # NaN is null
    feed.flush()
    assert len(sent) == 2  # nothing new, nothing sent


def test_engine_sends_the_whole_baseline_in_baseline_epoch_events() -> None:
    from tests.conftest import TINY_SPEC
    from worker.engine import run_job
    from worker.spec import JobSpec

    events: list[dict[str, Any]] = []
    result = run_job(JobSpec.model_validate({**TINY_SPEC, "probes": []}), on_event=events.append)
    feed = [e for e in events if e["type"] == "baseline_epoch"]
    assert feed and feed[0]["from_epoch"] == 1 and feed[-1]["epoch"] == 2 and feed[-1]["epochs"] == 2
    losses = [v for e in feed for v in e["train_loss"]]
    assert losses == result["baseline"]["history"]["train_loss"]
    kinds = [e["type"] for e in events]
    assert kinds.index("baseline_epoch") < kinds.index("baseline_finished")
