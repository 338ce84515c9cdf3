"""From evidence to a diagnosis: run every rule, rank the findings, name the primary cause.

Ranking prefers the intervention that removes the *cause* over one that compensates for it:

0. ``no_learnable_signal`` (nothing else can be fixed while the labels carry nothing);
1. a data or wiring fault that a pre-check flagged and whose own intervention recovered the loss
   (non-finite data, unscaled inputs, a loss that does not fit the output, frozen layers);
2. the model: its init, activations, regularization, capacity, gradient mechanics;
3. the optimizer settings that can compensate for any of the above: lr, batch size, steps.
   A baseline still falling steadily is slow, not broken: more steps rank before a larger lr.

Within a tier the finding whose intervention recovered most wins; within ``CLOSE`` of it, the
registry's precedence. Findings read off the run itself (``measured``) follow the confirmed ones,
symptoms come last. A run that trained well with nothing confirmed or measured is healthy.

Nothing is confirmed on a baseline the budget cut short. With no confirmed or measured finding,
the verdict is ``inconclusive`` unless one symptom stands clearly above the rest; the summary
then names the candidates and the run that would decide between them.
"""

from __future__ import annotations

from worker.contract.result import Diagnosis
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules import RULES, Finding
from worker.diagnosis.rules.joint import joint_findings
from worker.diagnosis.rules.measures import falling_rate, still_falling, trained
from worker.diagnosis.summary import DECIDES, summarize

#: Confirmed findings whose recovery is within this share of chance of the best count as equal.
CLOSE = 0.1
#: A symptom-only primary must lead the next candidate by this much confidence, or it is a tie.
SYMPTOM_LEAD = 0.15
#: Causes whose pre-check, when flagged, makes them a root cause (tier 1), with that check.
ROOT_CHECKS: dict[str, tuple[str, ...]] = {
    "non_finite_data": ("non_finite",),
    "loss_output_mismatch": ("output_loss", "label_range"),
    "frozen_parameters": ("frozen",),
    "unscaled_inputs": ("input_scale",),
}
#: Optimizer settings: they can compensate for a fault elsewhere (tier 3).
SETTINGS = ("lr_too_high", "lr_too_low", "batch_size", "too_few_steps")


def tier(f: Finding, ev: Evidence) -> int:
    """0 no signal, 1 a flagged data/wiring fault, 2 the model, 3 an optimizer setting."""
    if f.cause == "no_learnable_signal":
        return 0
    if f.cause in ROOT_CHECKS:
        return 1 if any(ev.flagged(c) for c in ROOT_CHECKS[f.cause]) else 3
    return 3 if f.cause in SETTINGS else 2


def _by_gain(pool: list[Finding]) -> list[Finding]:
    order: list[str] = list(RULES)
    ranked: list[Finding] = []
    pool = list(pool)
    while pool:
        top = max(f.gain for f in pool)
        close = [f for f in pool if f.gain >= top - CLOSE]
        pick = min(close, key=lambda f: order.index(f.cause) if f.cause in order else len(order))
        ranked.append(pick)
        pool.remove(pick)
    return ranked


def rank(findings: list[Finding], ev: Evidence | None = None) -> list[Finding]:
    """Findings best first: confirmed by tier and recovery, then measured, then symptoms by confidence."""
    order: list[str] = list(RULES)
    confirmed = [f for f in findings if f.confirmed]
    measured = sorted(
        (f for f in findings if not f.confirmed and f.basis == "measured"), key=lambda f: order.index(f.cause)
    )
    others = sorted(
        (f for f in findings if not f.confirmed and f.basis != "measured"),
        key=lambda f: (-f.confidence, order.index(f.cause) if f.cause in order else len(order)),
    )
    if ev is None:
        tiers = {id(f): 0 if f.cause == "no_learnable_signal" else 2 for f in confirmed}
    else:
        tiers = {id(f): tier(f, ev) for f in confirmed}
    ranked: list[Finding] = []
    for t in sorted(set(tiers.values())):
        group = _by_gain([f for f in confirmed if tiers[id(f)] == t])
        if t == 3 and ev is not None and still_falling(ev, ev.baseline):
            # still falling steadily: slow, not broken, so more steps come before a larger lr
            group.sort(key=lambda f: f.cause != "too_few_steps")
        ranked.extend(group)
    return ranked + measured + others


def _downgrade(f: Finding) -> Finding:
    """The same finding as a symptom: a run the budget cut short confirms nothing."""
    return Finding(f.cause, min(f.confidence, 0.5), f.evidence, f.fix, 0.0, False, "symptoms")


def diagnose(ev: Evidence, *, skipped: int = 0) -> Diagnosis:
    """The contract's ``diagnosis`` for this evidence; ``skipped``: planned runs the budget left out."""
    b = ev.baseline
    findings = [f for rule in RULES.values() if (f := rule(ev)) is not None]
    findings = joint_findings(ev, findings)
    cut_short = b.cut_short
    notes: list[str] = []
    if cut_short:
        findings = [_downgrade(f) for f in findings]
    ranked = rank(findings, ev)
    decisive = [f for f in ranked if f.confirmed or f.basis == "measured"]
    healthy = trained(ev, b) and not decisive and not cut_short
    if healthy:
        notes = [f"{f.cause}: {'; '.join(f.evidence)}" for f in ranked]
        ranked = []
    primary: Finding | None = None
    candidates: list[Finding] = []
    if decisive:
        primary = decisive[0]
    elif ranked and not cut_short:
        lead = ranked[0].confidence - (ranked[1].confidence if len(ranked) > 1 else 0.0)
        if lead >= SYMPTOM_LEAD:
            primary = ranked[0]
        else:
            candidates = ranked[:3]
    elif ranked:
        candidates = ranked[:3]
    complete = not cut_short and skipped == 0 and not any(p.cut_short for p in ev.probes)
    summary = summarize(ev, primary, ranked, healthy, candidates)
    if cut_short:
        # a verdict on part of the run: say so first, so nobody acts on it unawares
        more = b.epochs_planned / max(len(b.train_loss), 1)
        summary = (
            f"The budget ran out after {len(b.train_loss)} of {b.epochs_planned} epochs, so nothing can be "
            f"confirmed from this run; raise budget_seconds (about {more:.2g}x as much) for a diagnosis. " + summary
        )
        notes.append(
            f"baseline stopped at the budget after {len(b.train_loss)} of {b.epochs_planned} epochs; "
            "nothing is confirmed from a run cut short"
        )
    if skipped:
        notes.append(f"{skipped} planned probe runs were left out for the budget")
    for f in candidates:
        notes.append(f"candidate {f.cause}: {DECIDES.get(f.cause, 'a job with more probes')} would decide")
    if still_falling(ev, b) and primary is not None and primary.cause != "too_few_steps":
        notes.append(f"the baseline was still falling {100 * falling_rate(b):.0f}% an epoch when it stopped")
    basis: str = (primary.basis or "symptoms") if primary is not None else ("trained" if healthy else "inconclusive")
    return Diagnosis(
        healthy=healthy,
        primary_cause=primary.cause if primary else None,
        findings=[f.out() for f in ranked],
        summary=summary,
        complete=complete,
        notes=notes,
        chance_loss=ev.chance,
        verdict_basis=basis,
    )
