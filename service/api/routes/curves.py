"""``/v1/diagnose/curves``: diagnose loss curves from a run made elsewhere, without training."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from service.api.deps import require_json
from service.api.schemas import CurvesDiagnosis
from worker.diagnosis.curves import CurvesRequest, diagnose_curves

router = APIRouter(prefix="/v1/diagnose", tags=["diagnose"])


@router.post(
    "/curves",
    summary="Diagnose loss curves (synchronous)",
    dependencies=[Depends(require_json)],
    response_model=CurvesDiagnosis,
    response_model_exclude_unset=True,
)
def diagnose(request: CurvesRequest) -> dict[str, Any]:
    """The diagnosis of the posted curves, shaped like a job result's ``diagnosis``; ``422`` on a bad body."""
    return diagnose_curves(request)
