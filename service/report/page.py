"""The report page of a job as one self-contained HTML document (inline CSS and SVG, no scripts).

Structure a test (or a scraper) can rely on:

    <main class="report" data-job-id=… data-status=…>
    <section class="diagnosis" data-healthy=… data-primary-cause=…>  with one
        <article class="finding" data-cause=…> per finding (evidence list, fix in words)
    <section class="curves"> with one <figure class="curve" data-probe="<name>"> per run, the
        baseline first (data-probe="baseline"), each holding an inline <svg>
    <section class="progress"> while the job is queued or running (the page reloads itself)
    <section class="error"> for a failed job
"""

from __future__ import annotations

from html import escape
from typing import Any

from service.report.charts import curve_svg, overview_svg
from service.report.words import cause_title, changes_text, number
from worker.store import TERMINAL

CSS = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;
color:#1b1f24}
main{max-width:1180px;margin:0 auto;padding:24px}
header h1{margin:0 0 4px;font-size:24px} .meta{color:#59636e;font-size:13px}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-size:13px;font-weight:600;color:#fff}
.s-succeeded{background:#1a7f37}.s-failed{background:#cf222e}.s-cancelled{background:#6e7781}
.s-queued,.s-running{background:#9a6700}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:16px 20px;margin:16px 0}
h2{font-size:18px;margin:0 0 10px}
.healthy{border-left:6px solid #1a7f37}.unhealthy{border-left:6px solid #cf222e}
.primary{font-size:20px;font-weight:600}.summary{font-size:16px}
.finding{border-top:1px solid #eaeef2;padding:10px 0}.finding h3{margin:0;font-size:16px}
.conf{color:#59636e;font-weight:400;font-size:13px}.fix{background:#dafbe1;padding:6px 10px;border-radius:6px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:12px}
figure{margin:0;border:1px solid #eaeef2;border-radius:6px;padding:6px}figure svg{width:100%;height:auto}
figcaption{font-size:13px;color:#424a53}.overview svg{width:100%;max-width:860px;height:auto}
progress{width:100%;height:18px}.error{border-left:6px solid #cf222e}
"""


def _diagnosis(diagnosis: dict[str, Any]) -> str:
    healthy = bool(diagnosis.get("healthy"))
    cause = diagnosis.get("primary_cause")
    findings = []
    for f in diagnosis.get("findings") or []:
        evidence = "".join(f"<li>{escape(str(e))}</li>" for e in f.get("evidence") or [])
        fixes = changes_text(f.get("fix"))
        fix = f'<p class="fix"><strong>Fix:</strong> {escape("; ".join(fixes))}</p>' if fixes else ""
        conf = f.get("confidence")
        conf_text = f' <span class="conf">confidence {conf:.0%}</span>' if isinstance(conf, int | float) else ""
        findings.append(
            f'<article class="finding" data-cause="{escape(str(f.get("cause")))}">'
            f"<h3>{escape(cause_title(f.get('cause')))}{conf_text}</h3>"
            f'<ul class="evidence">{evidence}</ul>{fix}</article>'
        )
    headline = "Training is healthy" if healthy else f"Primary cause: {cause_title(cause)}"
    return (
        f'<section class="diagnosis {"healthy" if healthy else "unhealthy"}"'
        f' data-healthy="{str(healthy).lower()}"'
        f' data-primary-cause="{escape(str(cause or ""))}"><h2>Diagnosis</h2>'
        f'<p class="primary">{escape(headline)}</p>'
        f'<p class="summary">{escape(str(diagnosis.get("summary") or ""))}</p>'
        f"{''.join(findings)}</section>"
    )


def _figure(name: str, history: dict[str, Any], caption: str) -> str:
    return (
        f'<figure class="curve" data-probe="{escape(name)}">{curve_svg(history, name)}'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _probe_caption(probe: dict[str, Any]) -> str:
    summary = probe.get("summary") or {}
    changes = "; ".join(changes_text(probe.get("changes"))) or "no change"
    diverged = " — diverged" if summary.get("diverged") else ""
    return (
        f"{escape(changes)}. Train loss {number(summary.get('initial_loss'))} → "
        f"{number(summary.get('final_loss'))} "
        f"(decrease {number(summary.get('relative_decrease'), 3)}){diverged}"
    )


def _curves(result: dict[str, Any]) -> str:
    baseline = (result.get("baseline") or {}).get("history") or {}
    probes = result.get("probes") or []
    runs = [("baseline", baseline)] + [(str(p.get("name")), p.get("history") or {}) for p in probes]
    figures = [_figure("baseline", baseline, "Your training as specified (solid: train, dashed: validation).")]
    figures += [_figure(str(p.get("name")), p.get("history") or {}, _probe_caption(p)) for p in probes]
    return (
        '<section class="curves"><h2>Loss curves</h2>'
        f'<div class="overview">{overview_svg(runs)}</div>'
        f'<div class="grid">{"".join(figures)}</div></section>'
    )


def _progress(job: dict[str, Any]) -> str:
    progress = job.get("progress") or {}
    done, total = int(progress.get("done") or 0), int(progress.get("total") or 0)
    bar = f'<progress value="{done}" max="{total}"></progress>' if total else "<progress></progress>"
    what = (
        f"{done} of {total} trainings done"
        if total
        else "waiting for a worker"
        if job["status"] == "queued"
        else "starting"
    )
    return f'<section class="progress"><h2>{escape(job["status"].capitalize())}</h2>{bar}<p>{what}</p></section>'


def render_report(job: dict[str, Any], refresh_seconds: int = 2) -> str:
    """The report page of a job object (as ``GET /v1/jobs/{id}`` returns it)."""
    status = str(job["status"])
    title = job.get("name") or job["id"]
    head_extra = f'<meta http-equiv="refresh" content="{refresh_seconds}">' if status not in TERMINAL else ""
    body = []
    if status not in TERMINAL:
        body.append(_progress(job))
    if job.get("error"):
        err = job["error"]
        body.append(
            f'<section class="error"><h2>Failed: {escape(str(err.get("type")))}</h2>'
            f"<p>{escape(str(err.get('message')))}</p></section>"
        )
    result = job.get("result")
    if result:
        if result.get("diagnosis"):
            body.append(_diagnosis(result["diagnosis"]))
        body.append(_curves(result))
    times = " · ".join(
        f"{k.replace('_at', '')} {escape(str(job[k]))}"
        for k in ("created_at", "started_at", "finished_at")
        if job.get(k)
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{head_extra}'
        f"<title>{escape(str(title))} · lossdoctor</title><style>{CSS}</style></head><body>"
        f'<main class="report" data-job-id="{escape(job["id"])}" data-status="{escape(status)}">'
        f"<header><h1>{escape(str(title))} "
        f'<span class="badge s-{escape(status)}">{escape(status)}</span></h1>'
        f'<p class="meta">job {escape(job["id"])} · {times} · '
        f'<a href="/v1/jobs/{escape(job["id"])}">JSON</a></p></header>'
        f"{''.join(body)}</main></body></html>"
    )
