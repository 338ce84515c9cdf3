"""Gradients reaching the early layers orders of magnitude smaller than at the output; confirmed
when a gradient-friendly activation or normalization recovers the loss."""

from __future__ import annotations

from worker.contract.vocabulary import RuleCause
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.dead_relus import DEAD_SHARE
from worker.diagnosis.rules.measures import SYMPTOM, LayerRatio, best_recovery, fmt, gain, trained, weight_grads

CAUSE: RuleCause = "vanishing_gradients"

#: First-layer over last-layer gradient norm at the first step below which gradients "vanish".
VANISH_RATIO = 1e-2
#: What to change; the same for the confirmed cause and its symptom half.
FIX = {"model.layers": "use relu with kaiming init in the hidden layers, or add batchnorm"}


def grad_ratio(ev: Evidence) -> tuple[float, str, str] | None:
    """First weight layer's gradient norm over the last one's at the first step, with their names."""
    norms = [(name, v) for name, v in weight_grads(ev) if v is not None]
    if len(norms) < 3:
        return None
    (first, g0), (last, g1) = norms[0], norms[-1]
    if g1 <= 0:
        return None
    return g0 / g1, first, last


def _dead_relus(ev: Evidence) -> bool:
    """Dead ReLUs also starve the early layers of gradient; that is their own finding."""
    return any(s and s[0] is not None and s[0] >= DEAD_SHARE for s in ev.dead_fraction.values())


def rule(ev: Evidence) -> Finding | None:
    measured = grad_ratio(ev)
    if measured is None or trained(ev, ev.baseline):
        return None
    ratio, first, last = measured
    if ratio > VANISH_RATIO or _dead_relus(ev):
        return None
    evidence = [f"at the first step the gradient norm of {first} was {ratio:.2g}x that of {last}"]
    sat = {k: v[-1] for k, v in ev.saturation.items() if v and v[-1] is not None}
    if sat:
        worst = max(sat, key=lambda k: sat[k])
        evidence.append(f"{100 * sat[worst]:.0f}% of {worst}'s outputs are saturated")
    probe = best_recovery(ev, ("relu_activation", "batchnorm"))
    fix = dict(FIX)
    if probe is not None:
        evidence.append(
            f"with {probe.name.replace('_', ' ')} the same run fell to {fmt(probe.final)} "
            f"(baseline {fmt(ev.baseline.final)}, chance {fmt(ev.chance)})"
        )
        return Finding(CAUSE, 0.92, evidence, fix, gain(ev, probe), True)
    return Finding(CAUSE, 0.5, evidence, fix)


def gradient_symptoms(ev: Evidence, measured: LayerRatio) -> Finding | None:
    """The symptom half read from a first/last gradient ratio alone (``/v1/diagnose/curves``, the per-layer
    norms a run recorded): at most VANISH_RATIO, on a run that did not train. Confidence SYMPTOM."""
    if trained(ev, ev.baseline) or measured.ratio > VANISH_RATIO:
        return None
    return Finding(CAUSE, SYMPTOM, [measured.sentence()], dict(FIX))
