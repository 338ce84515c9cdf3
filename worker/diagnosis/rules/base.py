"""What a rule returns: a finding that carries its numbers and a concrete fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from worker.contract.result import Finding as FindingOut

#: How a finding is known: ``intervention`` (a probe that changed one thing recovered the loss),
#: ``measured`` (read directly off the run's own numbers: a validation curve that rose from its
#: best epoch, training samples split into fit and misfit while the inputs carry signal), or
#: ``symptoms`` (numbers that point to the cause but prove nothing on their own).
Basis = Literal["intervention", "measured", "symptoms"]


@dataclass
class Finding:
    """A cause with the evidence for it.

    ``confirmed``: an intervention recovered the loss. ``gain``: how much of the chance-level
    loss the best confirming intervention recovered (0..~1.5), used to rank findings.
    ``basis`` defaults to what ``confirmed`` says; a rule sets ``measured`` itself.
    """

    cause: str
    confidence: float
    evidence: list[str]
    fix: dict[str, Any] = field(default_factory=dict)
    gain: float = 0.0
    confirmed: bool = False
    basis: Basis | None = None

    def __post_init__(self) -> None:
        if self.basis is None:
            self.basis = "intervention" if self.confirmed else "symptoms"

    def out(self) -> FindingOut:
        """The finding as the result shows it: confidence to 2 places, the gain as ``recovered`` to 3."""
        return FindingOut(
            cause=self.cause,
            confidence=round(self.confidence, 2),
            evidence=self.evidence,
            fix=self.fix,
            confirmed=self.confirmed,
            recovered=round(self.gain, 3),
            basis=self.basis,
        )

    def as_dict(self) -> dict[str, Any]:
        """``out``'s fields as a plain dict (values as they are), for the curve and monitor diagnoses."""
        return {
            "cause": self.cause,
            "confidence": round(self.confidence, 2),
            "evidence": self.evidence,
            "fix": self.fix,
            "confirmed": self.confirmed,
            "recovered": round(self.gain, 3),
            "basis": self.basis,
        }
