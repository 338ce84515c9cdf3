"""A large share of wrong labels: the inputs carry signal, yet the train loss stalls well above
zero, many training labels contradict the model's own predictions, and no intervention helps."""

from __future__ import annotations

from worker.evidence import Evidence
from worker.rules.base import Finding
from worker.rules.measures import fmt, recovers, score, signal_run

#: The baseline's final train loss must stay at least this share of chance.
PLATEAU = 0.3
#: At least this share of training labels must disagree with the model's predictions.
DISAGREE = 0.15


def rule(ev: Evidence) -> Finding | None:
    b = ev.baseline
    if ev.n_classes is None or b.train_acc is None or score(ev, b) < PLATEAU:
        return None
    signal = signal_run(ev)
    if signal is None or any(recovers(ev, p) for p in ev.probes if p.family != "overfit_batch"):
        return None
    disagree = 1.0 - b.train_acc
    if disagree < DISAGREE:
        return None
    evidence = [f"the train loss stalled at {fmt(b.final)} ({score(ev, b):.2f}x chance) while validation accuracy "
                f"reached {signal.val_acc_final:.2f} against {ev.val_majority:.2f} for the majority class: "
                "the inputs do carry signal",
                f"{100 * disagree:.0f}% of the training labels disagree with the trained model's predictions"]
    bigger = ev.family("bigger_model") + ev.family("more_steps")
    if bigger:
        accs = ", ".join(f"{p.name} {p.val_acc_final:.2f}" for p in bigger if p.val_acc_final is not None)
        evidence.append(f"a larger model or more steps did not lift validation accuracy ({accs})")
    fix = {"data.y": f"audit and relabel: about {100 * disagree:.0f}% of the training labels look wrong"}
    return Finding("label_noise", 0.7, evidence, fix, 0.0, True)
