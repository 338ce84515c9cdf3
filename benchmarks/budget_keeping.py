"""Whether a job keeps its budget: budget against the seconds it actually took, for a few budgets.

    .venv/bin/python benchmarks/budget_keeping.py [--budgets 2 5 10] [--device cpu]

Each case runs ``worker.engine.job.run_job`` in this process (imports and a warm-up excluded) on a spec
that cannot finish in any of the budgets: ``long_epochs`` (160 000 training samples in batches of
16, so one epoch takes longer than the smaller budgets) and ``many_epochs`` (digits, 3000 short
epochs, every probe). The bound is the product's: the budget plus 5% of it or 2 s, whichever is
larger. Prints one row per case and budget: seconds taken, the bound, whether it held, the
baseline's epochs, and how many runs the result's ``timing.left_out`` names as cut and skipped.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

#: The bound a job must end within: budget + max(BOUND_SHARE * budget, BOUND_MIN_SECONDS).
BOUND_SHARE = 0.05
BOUND_MIN_SECONDS = 2.0


def _specs(device: str) -> dict[str, dict[str, Any]]:
    """The benchmark's cases, as job specs without a budget."""
    mlp = [{"type": "linear", "out_features": 64}, {"type": "relu"}, {"type": "linear", "out_features": 10}]
    return {
        "long_epochs": {
            "data": {
                "source": "synthetic",
                "name": "classification",
                "n_samples": 200_000,
                "n_features": 20,
                "n_classes": 10,
                "seed": 0,
            },
            "model": {"layers": mlp},
            "training": {"loss": "cross_entropy", "optimizer": "sgd", "lr": 0.01, "epochs": 20, "batch_size": 16},
            "probes": "auto",
            "device": device,
        },
        "many_epochs": {
            "data": {"source": "builtin", "name": "digits"},
            "model": {"layers": mlp},
            "training": {"loss": "cross_entropy", "optimizer": "sgd", "lr": 5.0, "epochs": 3000, "batch_size": 32},
            "probes": "auto",
            "device": device,
        },
    }


def bound(budget: float) -> float:
    """Seconds a job of ``budget`` seconds may take at most."""
    return budget + max(BOUND_SHARE * budget, BOUND_MIN_SECONDS)


def main() -> None:
    """Run each case at each budget and print budget against actual seconds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=float, nargs="+", default=[2.0, 5.0, 10.0])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    from worker.contract.spec import JobSpec
    from worker.engine.job import run_job

    specs = _specs(args.device)
    run_job(JobSpec.model_validate({**specs["many_epochs"], "budget_seconds": 0.5}))  # warm-up
    print("| case | budget (s) | took (s) | bound (s) | held | baseline epochs | cut | skipped |")
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for name, spec in specs.items():
        for budget in args.budgets:
            job = JobSpec.model_validate({**spec, "budget_seconds": budget})
            began = time.monotonic()
            result = run_job(job).as_json()
            took = time.monotonic() - began
            left = result["timing"]["left_out"]
            cut = sum(1 for e in left if e["why"] == "cut")
            skipped = sum(1 for e in left if e["why"] == "skipped")
            print(
                f"| {name} | {budget:g} | {took:.2f} | {bound(budget):.2f} | "
                f"{'yes' if took <= bound(budget) else 'NO'} | {result['baseline']['summary']['epochs_run']} | "
                f"{cut} | {skipped} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
