"""Shared test configuration: the ``slow`` marker and tiny job specs that run in a second or two."""

from __future__ import annotations

import copy
from typing import Any

import pytest

#: A job that trains a one-hidden-layer net on iris for 2 epochs with one probe: about a second.
TINY_SPEC: dict[str, Any] = {
    "name": "iris-tiny",
    "data": {"source": "builtin", "name": "iris"},
    "model": {
        "layers": [
            {"type": "linear", "out_features": 16},
            {"type": "relu"},
            {"type": "linear", "out_features": 3},
        ]
    },
    "training": {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.01, "epochs": 2, "batch_size": 32},
    "probes": ["shuffled_labels"],
    "budget_seconds": 30,
    "device": "cpu",
}


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers used by the service and integration tests."""
    config.addinivalue_line("markers", "slow: runs real workers for several seconds (still part of make test)")


def tiny_spec(**changes: Any) -> dict[str, Any]:
    """A copy of ``TINY_SPEC`` with top-level keys replaced."""
    spec = copy.deepcopy(TINY_SPEC)
    spec.update(changes)
    return spec


@pytest.fixture
def spec() -> dict[str, Any]:
    """A fresh tiny spec per test."""
    return tiny_spec()


@pytest.fixture
def make_spec() -> Any:
    """``tiny_spec`` itself, for tests that need several variants."""
    return tiny_spec
