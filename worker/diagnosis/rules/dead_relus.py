"""Most ReLU units output zero for every input and get no gradient; confirmed when a probe that
revives them (standard init, smaller lr) recovers the loss."""

from __future__ import annotations

from worker.contract.vocabulary import RuleCause
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.measures import best_recovery, fmt, gain, trained

CAUSE: RuleCause = "dead_relus"

#: Share of a ReLU's units dead on every input that counts as "most".
DEAD_SHARE = 0.9


def rule(ev: Evidence) -> Finding | None:
    if trained(ev, ev.baseline):
        return None
    dead = {name: [v for v in series if v is not None] for name, series in ev.dead_fraction.items()}
    worst = {name: s[-1] for name, s in dead.items() if s and s[-1] >= DEAD_SHARE}
    if not worst:
        return None
    name = max(worst, key=lambda k: worst[k])
    at_init = dead[name][0] >= DEAD_SHARE
    evidence = [
        f"{100 * worst[name]:.0f}% of {name}'s units output zero for every input at the end of training"
        + (" (and already at init)" if at_init else f" (at init: {100 * dead[name][0]:.0f}%)")
    ]
    fix: dict[str, object] = {"model.init": {"weight": "kaiming_uniform", "bias": "zeros"}}
    if not at_init:
        # units that die during training are the mark of steps that overshoot: the mechanism, with
        # the lr as the cause that an intervention can confirm
        evidence.append("they died during training, which large steps cause; see the lr findings")
        return Finding(CAUSE, 0.6, evidence, {"training.lr": "lower"})
    probe = best_recovery(ev, ("standard_init",))
    if probe is not None:
        evidence.append(
            f"with {probe.name.replace('_', ' ')} the same run fell to {fmt(probe.final)} "
            f"(baseline {fmt(ev.baseline.final)}, chance {fmt(ev.chance)})"
        )
        return Finding(CAUSE, 0.9, evidence, fix, gain(ev, probe), True)
    return Finding(CAUSE, 0.6, evidence, fix)
