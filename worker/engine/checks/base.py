"""The result every pre-training check returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckResult:
    """``flagged`` when the check found a problem; ``detail`` says it with the numbers."""

    name: str
    flagged: bool
    detail: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "flagged": self.flagged, "detail": self.detail, "numbers": self.numbers}
