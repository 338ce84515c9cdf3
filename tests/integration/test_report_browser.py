"""The report page in a real browser (headless Chromium) from the real stack (Redis, API, worker).

For a succeeded job and a running one: the page loads, its parts are there in the DOM Chromium built
(lr sweep, probes chart and table, checks, layers charts, notes, the corrected spec), a job name built
to inject markup shows as text, and the console stays silent: no script error and no
Content-Security-Policy refusal (the copy button's inline script runs under the page's hash). The
screenshots are written to ``LOSSDOCTOR_SCREENSHOT_DIR`` when it is set (to look at), else to a
temporary directory.

Chromium is the Debian package ``chromium`` (``.ci/run`` installs it); without a chromium binary these
tests are skipped, saying so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from browser_devtools import DevTools
from lossdoctor_stack import Stack

pytestmark = pytest.mark.slow

#: The browser binaries tried, in order.
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((path for name in BROWSERS if (path := shutil.which(name))), None)
needs_browser = pytest.mark.skipif(
    BROWSER is None, reason="no chromium binary on PATH (apt-get install -y chromium; .ci/run installs it)"
)
#: Seconds one browser run may take.
BROWSER_SECONDS = 90
#: A name that would run a script and add an element if it were not escaped.
EVIL_NAME = '<img src=x onerror="alert(1)"><script>alert(2)</script>"><b>bold</b>'

#: Tiny: iris, 10 epochs, the lr sweep only (one stack of 9 runs), diagnosed lr_too_high with the
#: concrete fix training.lr, and a dead-ReLU symptom beside it.
LR_HIGH: dict[str, Any] = {
    "name": EVIL_NAME,
    "data": {"source": "builtin", "name": "iris"},
    "model": {
        "layers": [{"type": "linear", "out_features": 16}, {"type": "relu"}, {"type": "linear", "out_features": 3}]
    },
    "training": {"loss": "cross_entropy", "optimizer": "adam", "lr": 3.0, "epochs": 10, "batch_size": 32},
    "probes": ["lr_sweep"],
    "budget_seconds": 30,
    "device": "cpu",
}


def _browse(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on ``url`` with ``args``; console messages go to stderr."""
    assert BROWSER is not None
    command = [
        BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args, url,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_SECONDS, check=False)


def _console(stderr: str) -> list[str]:
    """The page's console messages in Chromium's log (errors, CSP refusals, anything a script logged)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def _screens_dir(tmp_path: Path) -> Path:
    path = Path(os.environ.get("LOSSDOCTOR_SCREENSHOT_DIR") or tmp_path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _load(url: str, tmp_path: Path, shot: str, height: int) -> str:
    """The page's DOM after load, with a screenshot taken; asserts the console stayed silent."""
    dom = _browse(url, tmp_path / "profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert _console(dom.stderr) == []
    picture = _screens_dir(tmp_path) / shot
    snap = _browse(url, tmp_path / "profile-shot", f"--screenshot={picture}", f"--window-size=1280,{height}")
    assert snap.returncode == 0 and picture.stat().st_size > 10_000, snap.stderr[-2000:]
    assert _console(snap.stderr) == []
    return dom.stdout


@needs_browser
def test_a_succeeded_jobs_report_in_a_browser(stack: Stack, tmp_path: Path) -> None:
    job = stack.submit(LR_HIGH)
    done = stack.wait(job["id"], timeout=120)
    assert done["status"] == "succeeded", done
    dom = _load(f"{stack.base_url}/v1/jobs/{job['id']}/report", tmp_path, "report-succeeded.png", 5200)
    assert f'data-job-id="{job["id"]}"' in dom and 'data-status="succeeded"' in dom
    for chart in ("lr-sweep", "probes", "layers-grad-norm", "layers-dead-fraction", "overview"):
        assert f'data-chart="{chart}"' in dom, chart
    assert 'class="probes"' in dom and dom.count("<tr data-run=") == 1 + len(done["result"]["probes"])
    assert dom.count('<tr class="check') == len(done["result"]["checks"]) and '<ul class="notes">' in dom
    diagnosis = done["result"]["diagnosis"]
    assert f'data-primary-cause="{diagnosis["primary_cause"] or ""}"' in dom
    for finding in diagnosis["findings"]:
        assert f'data-cause="{finding["cause"]}" data-basis="{finding["basis"]}"' in dom
    # the corrected spec: the job's spec with the primary fix's value set, and its copy button
    assert diagnosis["primary_cause"] == "lr_too_high", diagnosis
    fix = next(f for f in diagnosis["findings"] if f["cause"] == "lr_too_high")["fix"]
    assert 'id="copy-fixed-spec"' in dom and 'id="fixed-spec-json"' in dom
    assert f'"lr": {fix["training.lr"]}' in dom
    # the name is text: no element, no script came from it
    assert "<img" not in dom and "<b>bold</b>" not in dom and "alert(2)</script>" not in dom
    name = re.search(r'<span class="job-name">(.*?)</span>', dom)
    assert name is not None and "&lt;img src=x" in name.group(1) and "&lt;b&gt;bold&lt;/b&gt;" in name.group(1)
    # the Copy button, clicked in the page under its real policy, puts the corrected spec on the clipboard
    assert BROWSER is not None
    browser = DevTools(BROWSER, tmp_path / "profile-devtools")
    try:
        browser.call("Browser.grantPermissions", {"permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
                     page=False)  # fmt: skip
        browser.open(f"{stack.base_url}/v1/jobs/{job['id']}/report")
        copied = browser.evaluate(
            "document.getElementById('copy-fixed-spec').click();"
            "new Promise(done => setTimeout(async () => done([document.getElementById('copy-state').textContent,"
            " await navigator.clipboard.readText()]), 500))"
        )
        shown = browser.evaluate("document.getElementById('fixed-spec-json').textContent")
        assert browser.problems == []
    finally:
        browser.close()
    assert copied == ["copied", shown] and json.loads(shown)["training"]["lr"] == fix["training.lr"]
    assert json.loads(shown)["name"] == EVIL_NAME


@needs_browser
def test_a_running_jobs_report_in_a_browser(stack: Stack, tmp_path: Path) -> None:
    # long enough to catch running (many small batches), cancelled once looked at
    spec = {**LR_HIGH, "name": "still-training", "probes": ["shuffled_labels"], "budget_seconds": 60,
            "training": {**LR_HIGH["training"], "lr": 0.01, "epochs": 4000, "batch_size": 4}}  # fmt: skip
    job = stack.submit(spec)
    try:
        stack.wait_for_event(job["id"], "baseline_epoch", timeout=90)
        stack.wait_for_event(job["id"], "baseline_epoch", timeout=30)
        url = f"{stack.base_url}/v1/jobs/{job['id']}/report"
        dom = _load(url, tmp_path, "report-running.png", 1400)
        assert 'data-status="running"' in dom and 'http-equiv="refresh"' in dom
        trained = re.search(r'class="progress" data-epochs-trained="(\d+)"', dom)
        assert trained is not None and int(trained.group(1)) >= 1
        live = dom[dom.index('data-probe="baseline-live"') :]
        assert "<polyline" in live[: live.index("</figure>")] or int(trained.group(1)) == 1
        assert "of 4000 epochs trained" in dom
    finally:
        stack.client.post(f"/v1/jobs/{job['id']}/cancel")
    assert stack.wait(job["id"], timeout=60)["status"] == "cancelled"
