"""How often a named primary cause was right at each confidence level, on labelled cases.

    python benchmarks/calibration.py ../shared/benchmark/dev [--jobs 2]

Runs every case's spec through ``lossdoctor diagnose`` (in a fresh process each), takes the
primary finding's ``confidence`` and ``basis``, and prints per confidence band and per basis how
many primaries were named and how many were among the case's accepted causes. Healthy controls
and inconclusive verdicts are counted apart: they name no cause.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

#: Confidence bands (lower edges), highest first.
BANDS = (0.9, 0.8, 0.7, 0.5, 0.0)


def band(confidence: float) -> str:
    return next(f">= {edge:.1f}" for edge in BANDS if confidence >= edge)


def diagnose(case: dict, cli: list[str]) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(case["spec"], f)
    out = subprocess.run([*cli, f.name], capture_output=True, text=True, check=False).stdout
    result = json.loads(out[out.index("{") :])
    return result.get("result", result)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", type=Path)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--cli", default=f"{sys.executable} -m lossdoctor.cli diagnose")
    args = ap.parse_args()
    cases = [json.loads(p.read_text()) for p in sorted(args.cases.glob("*.json"))]
    rows: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    apart = {"healthy": 0, "inconclusive": 0}
    with cf.ThreadPoolExecutor(args.jobs) as pool:
        for case, result in zip(cases, pool.map(lambda c: diagnose(c, args.cli.split()), cases), strict=True):
            d = result["diagnosis"]
            if d["healthy"] or d["primary_cause"] is None:
                apart["healthy" if d["healthy"] else "inconclusive"] += 1
                continue
            top = d["findings"][0]
            right = int(top["cause"] in case["accept"])
            for key in (f"confidence {band(top['confidence'])}", f"basis {top.get('basis', '?')}"):
                rows[key][0] += 1
                rows[key][1] += right
    print(f"{'primary named with':26} {'cases':>6} {'right':>6} {'share':>6}")
    for key in sorted(rows, reverse=True):
        n, ok = rows[key]
        print(f"{key:26} {n:6d} {ok:6d} {ok / n:6.2f}")
    print(f"no cause named: {apart['healthy']} healthy, {apart['inconclusive']} inconclusive")


if __name__ == "__main__":
    main()
