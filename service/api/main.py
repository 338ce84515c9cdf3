"""All routers, included in one place."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.routes import curves, datasets, health, jobs, metrics, reports

api_router = APIRouter()
for module in (jobs, reports, datasets, curves, health, metrics):
    api_router.include_router(module.router)
