"""All routers, included in one place.

Every ``/v1`` router is included with the ``get_owner`` dependency, so each of its routes needs a valid
API key when keys are configured (a new route cannot forget it); health and metrics stay open. The one
exception is the report page, which checks a key or its signed link itself (``routes/reports.py``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from service.api.deps import get_owner
from service.api.routes import curves, datasets, health, jobs, metrics, models, reports, runs

api_router = APIRouter()
for module in (jobs, datasets, models, curves, runs):
    api_router.include_router(module.router, dependencies=[Depends(get_owner)])
for module in (reports, health, metrics):
    api_router.include_router(module.router)
