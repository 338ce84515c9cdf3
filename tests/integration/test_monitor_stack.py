"""``Monitor(..., client=Client(...))`` against the real stack: the telemetry streams to ``/v1/runs`` in
Redis, the service diagnoses it with the same rules as the monitor offline, runs expire and belong to
their tenant."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from lossdoctor_stack import Stack
from torch import nn
from torch.nn import functional as F

from lossdoctor import Client, LossdoctorError, Monitor
from service.core.security import new_key

pytestmark = pytest.mark.slow

torch.manual_seed(0)
X = torch.randn(128, 8)
Y = (X[:, 0] > 0).long()


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))


def train(monitor: Monitor, model: nn.Module, optimizer: torch.optim.Optimizer, steps: int) -> None:
    for step in range(steps):
        i = (step * 16) % len(X)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(X[i : i + 16]), Y[i : i + 16])
        loss.backward()
        optimizer.step()
        monitor.step(loss)


def test_a_healthy_loop_streams_in_chunks_and_the_service_agrees(stack: Stack) -> None:
    model = mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    with Client(stack.base_url) as client:
        monitor = Monitor(model, optimizer, client=client, name="healthy-mlp", chunk_steps=4)
        assert monitor.run_id is not None and monitor.run_id.startswith("run_")
        train(monitor, model, optimizer, 40)
        diagnosis = monitor.diagnose()
        monitor.close()
        run = client.get_run(monitor.run_id)
    assert diagnosis.healthy and diagnosis.findings == [] and diagnosis.verdict_basis == "monitor"
    assert run.name == "healthy-mlp" and run.steps_received == len(monitor.records) == 13 and run.last_step == 40
    assert monitor.sender is not None and monitor.sender.sent == 13 and monitor.sender.dropped == 0
    stored = stack.redis.llen(f"lossdoctor:run:{monitor.run_id}:steps")
    assert stored == 13
    ttl = stack.redis.ttl(f"lossdoctor:run:{monitor.run_id}")
    assert 0 < ttl <= stack.settings.retention_seconds


def test_an_optimizer_on_a_deepcopy_is_diagnosed_by_the_service(stack: Stack) -> None:
    model = mlp()
    optimizer = torch.optim.SGD(copy.deepcopy(model).parameters(), lr=0.1)
    with Client(stack.base_url) as client:
        monitor = Monitor(model, optimizer, client=client)
        train(monitor, model, optimizer, 10)
        served = monitor.diagnose()
    offline = monitor.summary()
    assert served.primary_cause == offline.primary_cause == "training_loop_bug"
    assert served.findings == offline.findings
    assert served.primary is not None and "copy.deepcopy" in served.primary.evidence[1]


def test_a_retried_chunk_is_stored_once(stack: Stack) -> None:
    model = mlp()
    with Client(stack.base_url) as client:
        monitor = Monitor(model, torch.optim.SGD(model.parameters(), lr=0.1))
        train(monitor, model, monitor.optimizer, 5)
        run = client.create_run(monitor.setup)
        client.append_telemetry(run.id, monitor.records[:3])
        again = client.append_telemetry(run.id, monitor.records)
        assert again.steps_received == 5 and again.last_step == 5
        assert stack.redis.llen(f"lossdoctor:run:{run.id}:steps") == 5


def test_runs_belong_to_their_tenant(make_stack: Any) -> None:
    key_a, entry_a = new_key("acme")
    key_b, entry_b = new_key("globex")
    stack = make_stack(api_keys=f"{entry_a},{entry_b}")
    model = mlp()
    with Client(stack.base_url, api_key=key_a) as acme, Client(stack.base_url, api_key=key_b) as globex:
        monitor = Monitor(model, torch.optim.SGD(model.parameters(), lr=0.1), client=acme)
        train(monitor, model, monitor.optimizer, 3)
        assert monitor.run_id is not None and acme.get_run(monitor.run_id).id == monitor.run_id
        monitor.close()
        with pytest.raises(LossdoctorError) as caught:
            globex.get_run(monitor.run_id)
        assert caught.value.status == 404
        with pytest.raises(LossdoctorError) as anonymous:
            Client(stack.base_url, api_key="").get_run(monitor.run_id)
        assert anonymous.value.status == 401


def test_a_monitor_whose_service_is_down_works_offline() -> None:
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = Monitor(model, optimizer, client=Client("http://127.0.0.1:9", retries=0))
    train(monitor, model, optimizer, 10)
    assert monitor.run_id is None and monitor.diagnose().healthy
