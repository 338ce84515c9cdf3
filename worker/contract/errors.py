"""Errors the engine raises for a spec that validates field by field but cannot run as a whole.

    SpecError            a spec that cannot run on its data (shapes, labels, sizes); a 422 at the API
    DataUnavailable      a data set that cannot be loaded (an unknown upload id, an unreadable file)
    Cancelled            the job was cancelled while it ran (the task ends it ``cancelled``)

A training that goes wrong is never an exception: it is a result with findings.
"""

from __future__ import annotations


class SpecError(ValueError):
    """The spec cannot run: ``loc`` names the field (as in pydantic's errors), ``message`` says why."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message

    def as_error(self) -> dict[str, object]:
        """The shape of one entry in a problem+json ``errors`` list."""
        return {"loc": list(self.loc), "msg": self.message, "type": "spec_error"}


class DataUnavailable(SpecError):
    """A referenced data set is missing or unreadable."""


class Cancelled(Exception):
    """The job was cancelled while it ran."""
