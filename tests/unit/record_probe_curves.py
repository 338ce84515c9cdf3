"""Record full-length probe curves from saved diagnoses into the table ``test_probe_stopping`` reads.

    .venv/bin/python tests/unit/record_probe_curves.py OUT.json RESULT_DIR [RESULT_DIR ...]

Each RESULT_DIR holds result JSONs as ``/work/tools/runall.py`` saves them (``lossdoctor diagnose``'s
output, every history in it). Kept: each probe of a judged family (``JUDGED_FAMILIES``) that trained
its planned epochs to the end, with the baseline's per-epoch train losses and its chance loss.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from worker.engine.probes.scoring import JUDGED_FAMILIES


def _short(curve: list[float | None]) -> list[float | None]:
    """A curve at 5 significant digits (None stays None: a non-finite epoch)."""
    return [None if v is None else float(f"{v:.5g}") for v in curve]


def rows(result: dict[str, Any], case: str) -> list[dict[str, Any]]:
    """The table rows of one diagnosis: one per full-length probe of a judged family."""
    base = result["baseline"]
    epochs = base["config"]["epochs"]
    if base["stop_reason"] != "completed" or len(base["history"]["train_loss"]) != epochs:
        return []
    out = []
    for p in result["probes"]:
        planned = p["changes"].get("training.epochs", epochs)
        curve = p["history"]["train_loss"]
        if p["family"] not in JUDGED_FAMILIES or p["stop_reason"] != "completed" or len(curve) != planned:
            continue
        if planned != epochs:
            continue
        out.append(
            {
                "case": case,
                "probe": p["name"],
                "family": p["family"],
                "chance": base["chance_loss"],
                "epochs": epochs,
                "baseline": _short(base["history"]["train_loss"]),
                "probe_curve": _short(curve),
            }
        )
    return out


def main(argv: list[str]) -> None:
    table = []
    for folder in argv[2:]:
        for path in sorted(Path(folder).glob("*.json")):
            if path.name.startswith("spec_"):
                continue
            result = json.loads(path.read_text())
            table += rows(result.get("result", result), path.stem)
    Path(argv[1]).write_text(json.dumps(table, indent=None) + "\n")
    print(f"{len(table)} probe curves from {len({r['case'] for r in table})} cases")


if __name__ == "__main__":
    main(sys.argv)
