"""What a rule returns: a finding that carries its numbers and a concrete fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Finding:
    """A cause with the evidence for it.

    ``confirmed``: an intervention recovered the loss. ``gain``: how much of the chance-level
    loss the best confirming intervention recovered (0..~1.5), used to rank findings.
    """

    cause: str
    confidence: float
    evidence: list[str]
    fix: dict[str, Any] = field(default_factory=dict)
    gain: float = 0.0
    confirmed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"cause": self.cause, "confidence": round(self.confidence, 2), "evidence": self.evidence,
                "fix": self.fix, "confirmed": self.confirmed, "recovered": round(self.gain, 3)}
