"""The one exception the client raises: ``LossdoctorError``, carrying the server's problem+json fields.

LossdoctorError           every failure a caller of ``lossdoctor.Client`` sees
  status 400..599          the server answered with a problem (RFC 9457): ``title``, ``detail``,
                           ``type`` and, for a bad request, ``errors`` naming each bad field
  status 0                 no answer: the server could not be reached (after the retries), or the
                           answer was not the JSON the client expected
  status 408               ``Client.wait`` gave up before the job ended (its ``timeout``)
"""

from __future__ import annotations

from typing import Any

#: ``status`` of an error where no HTTP answer came back (connection refused, reset, timed out).
NO_ANSWER = 0
#: ``status`` of ``Client.wait`` giving up before the job ended.
WAIT_TIMEOUT = 408


class LossdoctorError(Exception):
    """A request the service refused or could not answer, with the problem's fields."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type: str = "about:blank",  # noqa: A002 - the RFC 9457 field's name
        errors: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}" if status else f"{title}: {detail}")
        self.status, self.title, self.detail, self.type = status, title, detail, type
        self.errors: list[dict[str, Any]] = list(errors or [])
        #: the whole problem body as the server sent it (fields beyond the standard ones included)
        self.body: dict[str, Any] = dict(body or {})

    @classmethod
    def from_problem(cls, status: int, body: Any, fallback: str = "") -> LossdoctorError:
        """The error for an HTTP answer with ``status`` and a parsed body (a problem object, or anything)."""
        if not isinstance(body, dict):
            return cls(status, "HTTP error", fallback or f"the server answered {status}")
        errors = body.get("errors")
        return cls(
            int(body.get("status") or status),
            str(body.get("title") or "HTTP error"),
            str(body.get("detail") or fallback or f"the server answered {status}"),
            type=str(body.get("type") or "about:blank"),
            errors=errors if isinstance(errors, list) else None,
            body=body,
        )
