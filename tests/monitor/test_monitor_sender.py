"""The monitor's telemetry over an in-memory transport: chunks in step order, and a service that fails
mid-run costs the chunks it refused, never the training."""

from __future__ import annotations

import json

import httpx
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from lossdoctor import Client, LossdoctorError, Monitor

RUN = {"id": "run_1", "steps_received": 0, "created_at": "t", "updated_at": "t", "name": None, "last_step": None}


def loop(monitor: Monitor, model: nn.Module, optimizer: torch.optim.Optimizer, steps: int) -> None:
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        monitor.step(loss)


def test_chunks_go_out_in_order_and_a_refused_chunk_is_dropped_not_raised() -> None:
    chunks: list[list[int]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/runs":
            assert json.loads(request.content)["setup"]["model_tensors"] == 2
            return httpx.Response(201, json=RUN)
        steps = [s["step"] for s in json.loads(request.content)["steps"]]
        chunks.append(steps)
        if len(chunks) == 2:
            return httpx.Response(500, json={"title": "Internal Server Error", "status": 500, "detail": "boom"})
        return httpx.Response(200, json={**RUN, "last_step": steps[-1]})

    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    client = Client("http://ld.test", transport=httpx.MockTransport(handler), retries=0)
    monitor = Monitor(model, optimizer, client=client, chunk_steps=3, every=1, warmup=0)
    loop(monitor, model, optimizer, 8)
    monitor.close()
    assert chunks == [[1, 2, 3], [4, 5, 6], [7, 8]]
    assert monitor.sender is not None and (monitor.sender.sent, monitor.sender.dropped) == (5, 3)
    assert monitor.summary().healthy  # the offline diagnosis still has every step


def test_diagnose_says_when_the_service_cannot_answer() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(404, json={"title": "Not Found", "status": 404, "detail": "no run run_1"})
        return httpx.Response(201 if request.url.path == "/v1/runs" else 200, json=RUN)

    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = Monitor(model, optimizer, client=Client("http://ld.test", transport=httpx.MockTransport(handler)))
    loop(monitor, model, optimizer, 3)
    with pytest.raises(LossdoctorError) as caught:
        monitor.diagnose()
    assert caught.value.status == 404
