"""``baseline_epoch`` events: what is new since the last one, at most every half second, and a flush."""

from __future__ import annotations

from typing import Any

from worker.engine.baseline_feed import MIN_INTERVAL_SECONDS, BaselineFeed
from worker.engine.train.loop import RunRecord


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
    assert sent == [
        {"type": "baseline_epoch", "from_epoch": 1, "epoch": 1, "epochs": 5, "train_loss": [1.5], "val_loss": [1.6]}
    ]  # epochs 2 and 3 came too soon
    feed.flush()
    assert sent[1] == {
        "type": "baseline_epoch",
        "from_epoch": 2,
        "epoch": 3,
        "epochs": 5,
        "train_loss": [1.2, None],
        "val_loss": [1.4, None],
    }  # NaN is null
    feed.flush()
    assert len(sent) == 2  # nothing new, nothing sent


def test_engine_sends_the_whole_baseline_in_baseline_epoch_events() -> None:
    from tests.conftest import TINY_SPEC
    from worker.contract.spec import JobSpec
    from worker.engine.job import run_job

    events: list[dict[str, Any]] = []
    result = run_job(JobSpec.model_validate({**TINY_SPEC, "probes": []}), on_event=events.append).as_json()
    feed = [e for e in events if e["type"] == "baseline_epoch"]
    assert feed and feed[0]["from_epoch"] == 1 and feed[-1]["epoch"] == 2 and feed[-1]["epochs"] == 2
    losses = [v for e in feed for v in e["train_loss"]]
    assert losses == result["baseline"]["history"]["train_loss"]
    kinds = [e["type"] for e in events]
    assert kinds.index("baseline_epoch") < kinds.index("baseline_finished")


def test_both_loops_hand_over_the_baseline_after_every_epoch() -> None:
    import numpy as np
    import torch

    from worker.contract.spec import ModelSpec, TrainingSpec
    from worker.engine.batched.train import Member, train_together
    from worker.engine.train.loop import train
    from worker.engine.train.problem import make_problem

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    problem = make_problem(x[:48], y[:48], x[48:], y[48:], "cross_entropy", 2, torch.device("cpu"))
    model = ModelSpec.model_validate({"layers": [{"type": "linear", "out_features": 2}]})
    t = TrainingSpec.model_validate({"loss": "cross_entropy", "optimizer": "sgd", "lr": 0.1, "epochs": 3})
    seen: list[list[float | None]] = []
    solo = train(
        model,
        t,
        problem,
        instrumented=True,
        on_epoch=lambda n, r: seen.append(list(r.train_loss)) if r is not None else None,
    )
    assert seen == [solo.train_loss[:1], solo.train_loss[:2], solo.train_loss]
    seen.clear()
    other = t.model_copy(update={"lr": 0.5})
    recs, _, _ = train_together(
        [Member(model, t, problem), Member(model, other, problem)],
        instrument_first=True,
        on_epoch=lambda n, r: seen.append(list(r.train_loss)) if r is not None else None,
    )
    assert seen == [recs[0].train_loss[:1], recs[0].train_loss[:2], recs[0].train_loss]  # member 0's only
