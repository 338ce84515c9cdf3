"""The report page of a job as one self-contained HTML document (inline CSS and SVG, one inline script
allowed by its hash: the copy button), answering "why is my loss not going down" at a glance.

Structure a test (or a scraper) can rely on:

    <main class="report" data-job-id=… data-status=…>
    <section class="progress">   while queued or running: a <progress> bar and the baseline's curve so
                                 far (<figure class="curve" data-probe="baseline-live">); the page reloads
    <section class="error">      for a failed job
    <section class="diagnosis" data-healthy=… data-primary-cause=… data-verdict-basis=…>  with one
        <article class="finding" data-cause=… data-basis=…> per finding, and <ul class="notes">
    <section class="fixed-spec"> the job's spec with the primary fix applied, in <pre id="fixed-spec-json">,
                                 and <button id="copy-fixed-spec">
    <section class="lr-sweep">   <svg data-chart="lr-sweep">
    <section class="probes">     <svg data-chart="probes"> and <table class="probes">, one <tr data-run=…> a run
    <section class="checks">     <table>, one <tr class="check" data-check=… data-flagged=…> per check
    <section class="layers">     <svg data-chart="layers-grad-norm">, <svg data-chart="layers-dead-fraction">
    <section class="curves">     one <figure class="curve" data-probe="<name>"> per run, the baseline first
"""

from __future__ import annotations

import base64
import hashlib
import math
from html import escape
from typing import Any

from pydantic import BaseModel

from service.report.charts import (
    Bar,
    SweepPoint,
    curve_svg,
    layers_svg,
    lr_sweep_svg,
    overview_svg,
    probes_svg,
)
from service.report.fixed_spec import fixed_spec
from service.report.words import BASIS_WORDS, STOP_WORDS, cause_title, changes_text, number
from worker.contract.result import Baseline, Diagnosis, Finding, History, ProbeResult, Result, RunSummary
from worker.jobs.store import TERMINAL

CSS = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;
color:#1b1f24}
main{max-width:1180px;margin:0 auto;padding:24px}
header h1{margin:0 0 4px;font-size:24px;overflow-wrap:anywhere} .meta{color:#59636e;font-size:13px}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-size:13px;font-weight:600;color:#fff}
.s-succeeded{background:#1a7f37}.s-failed{background:#cf222e}.s-cancelled{background:#6e7781}
.s-queued,.s-running{background:#9a6700}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px 20px;margin:16px 0}
h2{font-size:18px;margin:0 0 10px}
.healthy{border-left:6px solid #1a7f37}.unhealthy{border-left:6px solid #cf222e}
.inconclusive{border-left:6px solid #9a6700}
.primary{font-size:20px;font-weight:600;margin:0}.summary{font-size:16px}
.finding{border-top:1px solid #eaeef2;padding:10px 0}.finding h3{margin:0;font-size:16px}
.basis{display:inline-block;font-size:12px;font-weight:600;padding:1px 8px;border-radius:10px;margin-left:6px}
.b-intervention{background:#dafbe1;color:#116329}.b-measured{background:#ddf4ff;color:#0a3069}
.b-symptoms{background:#fff8c5;color:#7d4e00}
.conf{color:#59636e;font-weight:400;font-size:13px}.fix{background:#dafbe1;padding:6px 10px;border-radius:6px}
.notes li{color:#424a53}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:12px}
figure{margin:0;border:1px solid #eaeef2;border-radius:6px;padding:6px}
svg.chart{width:100%;height:auto;max-width:100%}.wide svg.chart{max-width:860px}
svg.chart .grid{stroke:#eaeef2}svg.chart .frame{fill:none;stroke:#8c959f}svg.chart text{fill:#424a53}
svg.chart .title{font-weight:600;font-size:12px}
figcaption{font-size:13px;color:#424a53}
progress{width:100%;height:18px}.error{border-left:6px solid #cf222e}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
tr.flagged{background:#fff1e5}tr.flagged td:first-child{border-left:4px solid #cf222e;font-weight:600}
.ok{color:#1a7f37}.bad{color:#cf222e;font-weight:600}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:10px;overflow:auto;max-height:420px;
font-size:13px}
button{font:inherit;padding:4px 14px;border-radius:6px;border:1px solid #1f883d;background:#1f883d;color:#fff;
cursor:pointer}.copied{margin-left:8px;color:#1a7f37}
.muted{color:#59636e}
"""

#: The copy button's script: copies the corrected spec; the page's policy allows it by this hash.
COPY_SCRIPT = (
    "document.getElementById('copy-fixed-spec').addEventListener('click',function(){"
    "var t=document.getElementById('fixed-spec-json').textContent,s=document.getElementById('copy-state');"
    "function ok(){s.textContent='copied';}"
    "function fallback(){var r=document.createRange();r.selectNodeContents(document.getElementById("
    "'fixed-spec-json'));var w=window.getSelection();w.removeAllRanges();w.addRange(r);"
    "try{document.execCommand('copy');ok();}catch(e){s.textContent='selected: press Ctrl+C';}}"
    "if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(t).then(ok,fallback);}"
    "else{fallback();}});"
)
#: The CSP source that allows ``COPY_SCRIPT`` and nothing else.
COPY_SCRIPT_HASH = "'sha256-" + base64.b64encode(hashlib.sha256(COPY_SCRIPT.encode()).digest()).decode() + "'"


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _share(loss: float | None, chance: float | None) -> float | None:
    """``loss`` as a share of the chance-level loss; None when either is missing or chance is not > 0."""
    loss, chance = _finite(loss), _finite(chance)
    return loss / chance if loss is not None and chance is not None and chance > 0 else None


def _present(part: BaseModel | None) -> bool:
    """The stored result had this part, with something in it."""
    return part is not None and bool(part.model_fields_set or part.model_extra)


def _basis_of(finding: Finding) -> str:
    if finding.basis in BASIS_WORDS:
        return str(finding.basis)
    return "intervention" if finding.confirmed else "symptoms"


def _finding(f: Finding) -> str:
    basis = _basis_of(f)
    evidence = "".join(f"<li>{escape(str(e))}</li>" for e in f.evidence)
    fixes = changes_text(f.fix)
    fix = f'<p class="fix"><strong>Fix:</strong> {escape("; ".join(fixes))}</p>' if fixes else ""
    conf = _finite(f.confidence)
    conf_text = f' <span class="conf">confidence {conf:.0%}</span>' if conf is not None else ""
    recovered = _finite(f.recovered)
    rec_text = (
        f'<p class="muted">The probe recovered {recovered:.2f}x the chance-level loss.</p>'
        if basis == "intervention" and recovered
        else ""
    )
    return (
        f'<article class="finding" data-cause="{escape(str(f.cause))}" data-basis="{basis}">'
        f"<h3>{escape(cause_title(f.cause))}"
        f'<span class="basis b-{basis}">{escape(BASIS_WORDS[basis])}</span>{conf_text}</h3>'
        f'<ul class="evidence">{evidence}</ul>{rec_text}{fix}</article>'
    )


def _primary(diagnosis: Diagnosis) -> Finding | None:
    """The finding of the primary cause, if the diagnosis names one."""
    cause = diagnosis.primary_cause
    return next((f for f in diagnosis.findings if f.cause == cause), None) if cause else None


def _diagnosis(diagnosis: Diagnosis) -> str:
    healthy = bool(diagnosis.healthy)
    cause = diagnosis.primary_cause
    verdict = str(diagnosis.verdict_basis or "")
    findings = diagnosis.findings
    inconclusive = not healthy and (verdict == "inconclusive" or not cause)
    if healthy:
        headline, css = "Training is healthy", "healthy"
    elif inconclusive:
        names = ", ".join(cause_title(f.cause) for f in findings) or "none"
        headline, css = f"Inconclusive: the evidence does not decide. Candidates: {names}", "inconclusive"
    else:
        primary = _primary(diagnosis)
        basis = _basis_of(primary) if primary else "symptoms"
        lead = {
            "intervention": "Cause (confirmed by an intervention)",
            "measured": "Cause (measured on your run)",
            "symptoms": "Likely cause (from symptoms, not confirmed)",
        }[basis]
        headline, css = f"{lead}: {cause_title(cause)}", "unhealthy"
    if diagnosis.complete is False:
        headline += " · not every planned run finished"
    notes = "".join(f"<li>{escape(str(n))}</li>" for n in diagnosis.notes)
    notes_html = f'<h3>Notes</h3><ul class="notes">{notes}</ul>' if notes else '<ul class="notes"></ul>'
    heading = "Candidates" if inconclusive else "Findings"
    return (
        f'<section class="diagnosis {css}" data-healthy="{str(healthy).lower()}"'
        f' data-primary-cause="{escape(str(cause or ""))}" data-verdict-basis="{escape(verdict)}">'
        f'<h2>Diagnosis</h2><p class="primary">{escape(headline)}</p>'
        f'<p class="summary">{escape(str(diagnosis.summary or ""))}</p>'
        f"{f'<h3>{heading}</h3>' if findings else ''}{''.join(_finding(f) for f in findings)}{notes_html}</section>"
    )


def _fixed_spec(job: dict[str, Any], diagnosis: Diagnosis) -> str:
    cause = diagnosis.primary_cause
    primary = _primary(diagnosis)
    if primary is None or not isinstance(job.get("spec"), dict):
        return ""
    fixed = fixed_spec(job["spec"], primary.fix)
    if not fixed.applied:
        words = "; ".join(changes_text(primary.fix)) or "none"
        return (
            '<section class="fixed-spec" data-applied="false"><h2>The corrected spec</h2>'
            f"<p>The fix is not a value to set in the spec: {escape(words)}.</p></section>"
        )
    applied = "; ".join(f"set {k} to {escape(v)}" for k, v in fixed.applied.items())
    skipped = (
        f'<p class="muted">Not applied (not a value to set): {escape("; ".join(fixed.skipped))}.</p>'
        if fixed.skipped
        else ""
    )
    left_out = (
        f'<p class="muted">Left out (too long to show): {escape(", ".join(fixed.left_out))}; put yours back.</p>'
        if fixed.left_out
        else ""
    )
    basis = _basis_of(primary)
    caveat = "" if basis == "intervention" else ' <span class="muted">(not confirmed by an intervention)</span>'
    return (
        '<section class="fixed-spec" data-applied="true"><h2>The corrected spec to copy</h2>'
        f"<p>Your spec with the fix for {escape(cause_title(cause))} applied: {applied}.{caveat}</p>"
        f"{skipped}{left_out}"
        '<p><button type="button" id="copy-fixed-spec">Copy</button><span id="copy-state" class="copied"'
        ' aria-live="polite"></span></p>'
        f'<pre id="fixed-spec-json">{escape(fixed.text)}</pre><script>{COPY_SCRIPT}</script></section>'
    )


def _lr_of(changes: dict[str, Any] | None) -> float | None:
    return _finite(changes.get("training.lr")) if changes is not None else None


def _lr_sweep(result: Result) -> str:
    baseline = result.baseline or Baseline()
    base_lr = _finite((baseline.config or {}).get("lr"))
    points = []
    for p in result.probes:
        lr = _lr_of(p.changes)
        if lr is None or (p.family not in (None, "lr_sweep")):
            continue
        points.append(SweepPoint(lr, _finite((p.summary or RunSummary()).final_loss), str(p.name)))
    if not points:
        return ""
    if base_lr is not None:
        final = _finite((baseline.summary or RunSummary()).final_loss)
        points.append(SweepPoint(base_lr, final, "baseline", baseline=True))
    chance = _finite(baseline.chance_loss)
    return (
        '<section class="lr-sweep"><h2>Learning-rate sweep</h2>'
        f'<figure class="wide">{lr_sweep_svg(points, chance)}<figcaption>Each point is one run with only '
        "the learning rate changed; the square is your run; a cross at the top is a run whose loss went "
        "non-finite (NaN or infinite).</figcaption></figure></section>"
    )


def _probes(result: Result) -> str:
    baseline = result.baseline or Baseline()
    chance = _finite(baseline.chance_loss)
    runs: list[tuple[str, dict[str, Any], RunSummary, str | None, bool]] = [
        ("baseline", {}, baseline.summary or RunSummary(), baseline.stop_reason, True)
    ]
    runs += [(str(p.name), p.changes or {}, p.summary or RunSummary(), p.stop_reason, False) for p in result.probes]
    bars, rows = [], []
    for name, changes, summary, stop, is_base in runs:
        share = _share(summary.final_loss, chance)
        stop_text = STOP_WORDS.get(str(stop), str(stop or ""))
        bars.append(Bar(name, share, stop_text, baseline=is_base))
        change = "your run as specified" if is_base else "; ".join(changes_text(changes)) or "no change"
        rows.append(
            f'<tr data-run="{escape(name)}" data-stop-reason="{escape(str(stop or ""))}"><td>{escape(name)}</td>'
            f"<td>{escape(change)}</td><td>{number(summary.final_loss)}</td>"
            f"<td>{number(share, 3)}</td><td>{number(summary.final_val_loss)}</td>"
            f"<td>{escape(stop_text)}</td></tr>"
        )
    chance_text = f"chance-level loss {number(chance)}" if chance is not None else "chance level unknown"
    return (
        f'<section class="probes"><h2>Probes: what changing one thing did</h2>'
        f'<figure class="wide">{probes_svg(bars)}<figcaption>Final train loss of each run divided by the '
        f"{escape(chance_text)}: 1 is no better than predicting the most common answer, 0 a perfect fit; "
        "all runs on one axis.</figcaption></figure>"
        '<table class="probes"><thead><tr><th>run</th><th>change</th><th>final train loss</th>'
        "<th>share of chance</th><th>final val loss</th><th>stopped</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _checks(result: Result) -> str:
    checks = result.checks
    if not checks:
        return ""
    ordered = sorted(checks, key=lambda c: not c.flagged)
    rows = "".join(
        f'<tr class="check{" flagged" if c.flagged else ""}" data-check="{escape(str(c.name))}"'
        f' data-flagged="{str(bool(c.flagged)).lower()}"><td>{escape(str(c.name))}</td>'
        f"<td>{'<span class=bad>flagged</span>' if c.flagged else '<span class=ok>ok</span>'}</td>"
        f"<td>{escape(str(c.detail or ''))}</td></tr>"
        for c in ordered
    )
    flagged = sum(1 for c in checks if c.flagged)
    return (
        f'<section class="checks"><h2>Checks before training ({flagged} of {len(checks)} flagged)</h2>'
        f"<table><thead><tr><th>check</th><th>result</th><th>detail</th></tr></thead><tbody>{rows}</tbody>"
        "</table></section>"
    )


def _layers(result: Result) -> str:
    layers = result.baseline.layers if result.baseline is not None else []
    if not layers:
        return ""
    grads = layers_svg(
        [(str(layer.name), layer.grad_norm) for layer in layers],
        "layers-grad-norm",
        "gradient norm per layer",
        "gradient norm",
        "instrumented step",
    )
    dead = layers_svg(
        [(str(layer.name), layer.dead_fraction) for layer in layers],
        "layers-dead-fraction",
        "dead ReLU units per layer",
        "share of units dead",
        "epoch",
        fraction=True,
    )
    return (
        '<section class="layers"><h2>Inside the baseline: gradients and dead units per layer</h2>'
        f'<div class="grid"><figure>{grads}<figcaption>Each layer\'s gradient norm during training: '
        "far smaller in early layers than late ones means vanishing gradients, growing without bound "
        f"exploding ones.</figcaption></figure><figure>{dead}<figcaption>Share of the ReLU units after each "
        "layer that output zero for every input (dead units get no gradient).</figcaption></figure></div>"
        "</section>"
    )


def _figure(name: str, history: History, caption: str, chance: float | None) -> str:
    return (
        f'<figure class="curve" data-probe="{escape(name)}">{curve_svg(history, name, chance)}'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _probe_caption(probe: ProbeResult) -> str:
    summary = probe.summary or RunSummary()
    changes = "; ".join(changes_text(probe.changes)) or "no change"
    diverged = " — diverged" if summary.diverged else ""
    return (
        f"{escape(changes)}. Train loss {number(summary.initial_loss)} → "
        f"{number(summary.final_loss)} "
        f"(decrease {number(summary.relative_decrease, 3)}){diverged}"
    )


def _curves(result: Result) -> str:
    baseline = result.baseline or Baseline()
    chance = _finite(baseline.chance_loss)
    history = baseline.history or History()
    probes = result.probes
    runs = [("baseline", history)] + [(str(p.name), p.history or History()) for p in probes]
    figures = [_figure("baseline", history, "Your training as specified (solid: train, dashed: validation).", chance)]
    figures += [_figure(str(p.name), p.history or History(), _probe_caption(p), chance) for p in probes]
    return (
        '<section class="curves"><h2>Loss curves</h2>'
        f'<figure class="wide overview">{overview_svg(runs, chance)}</figure>'
        f'<div class="grid">{"".join(figures)}</div></section>'
    )


def live_history(events: list[dict[str, Any]]) -> History:
    """The baseline's history so far from a job's ``baseline_epoch`` events (the latest attempt's)."""
    train: list[Any] = []
    val: list[Any] = []
    for e in events:
        if e.get("type") == "started":
            train, val = [], []  # a new attempt trains from the start
        if e.get("type") != "baseline_epoch" or not isinstance(e.get("from_epoch"), int):
            continue
        start = e["from_epoch"] - 1
        if start > len(train):
            continue  # a gap: an event of this attempt is missing; keep what is contiguous
        train[start:] = list(e.get("train_loss") or [])
        val[start:] = list(e.get("val_loss") or [])
    return History(epoch=list(range(1, len(train) + 1)), train_loss=train, val_loss=val)


def _progress(job: dict[str, Any], events: list[dict[str, Any]]) -> str:
    progress = job.get("progress") or {}
    done, total = int(progress.get("done") or 0), int(progress.get("total") or 0)
    bar = f'<progress value="{done}" max="{total}"></progress>' if total else "<progress></progress>"
    history = live_history(events)
    planned = next((e.get("epochs") for e in reversed(events) if e.get("type") == "baseline_epoch"), None)
    trained = len(history.train_loss)
    if job["status"] == "queued":
        what = "waiting for a worker"
    elif total:
        what = f"{done} of {total} probe trainings done"
    else:
        what = "checking the data and training the baseline"
    if trained:
        what += f" · baseline: {trained} of {planned or '?'} epochs trained"
    latest = next((e for e in reversed(events) if e.get("type") in ("probe_started", "probe_finished")), None)
    if latest is not None:
        what += f" · latest: {escape(str(latest.get('type')).replace('_', ' '))} {escape(str(latest.get('probe')))}"
    curve = (
        f'<figure class="curve" data-probe="baseline-live">{curve_svg(history, "baseline so far")}'
        "<figcaption>The baseline's loss per epoch as it trains (solid: train, dashed: validation).</figcaption>"
        "</figure>"
        if job["status"] == "running"
        else ""
    )
    return (
        f'<section class="progress" data-epochs-trained="{trained}"><h2>{escape(job["status"].capitalize())}</h2>'
        f"{bar}<p>{what}</p>{curve}<p class=muted>This page reloads itself until the job ends.</p></section>"
    )


def render_report(job: dict[str, Any], refresh_seconds: int = 2, events: list[dict[str, Any]] | None = None) -> str:
    """The report page of a job object (as ``GET /v1/jobs/{id}`` returns it); ``events`` (the job's, oldest
    first) give a running job's live baseline curve."""
    status = str(job["status"])
    title = job.get("name") or job["id"]
    head_extra = f'<meta http-equiv="refresh" content="{refresh_seconds}">' if status not in TERMINAL else ""
    body = []
    if status not in TERMINAL:
        body.append(_progress(job, events or []))
    if job.get("error"):
        err = job["error"]
        body.append(
            f'<section class="error"><h2>Failed: {escape(str(err.get("type")))}</h2>'
            f"<p>{escape(str(err.get('message')))}</p></section>"
        )
    stored = job.get("result")
    if stored:
        result = Result.of(stored)  # validated once: the typed result from here on
        diagnosis = result.diagnosis
        if diagnosis is not None and _present(diagnosis):
            body.append(_diagnosis(diagnosis))
            body.append(_fixed_spec(job, diagnosis))
        body.append(_lr_sweep(result))
        body.append(_probes(result))
        body.append(_checks(result))
        body.append(_layers(result))
        body.append(_curves(result))
    times = " · ".join(
        f"{k.replace('_at', '')} {escape(str(job[k]))}"
        for k in ("created_at", "started_at", "finished_at")
        if job.get(k)
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{head_extra}'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>{escape(str(title))} · lossdoctor</title><style>{CSS}</style></head><body>"
        f'<main class="report" data-job-id="{escape(job["id"])}" data-status="{escape(status)}">'
        f'<header><h1><span class="job-name">{escape(str(title))}</span> '
        f'<span class="badge s-{escape(status)}">{escape(status)}</span></h1>'
        f'<p class="meta">job {escape(job["id"])} · {times} · '
        f'<a href="/v1/jobs/{escape(job["id"])}">JSON</a></p></header>'
        f"{''.join(body)}</main></body></html>"
    )
