"""Typed SIP errors: each carries the status code a UAS answers with."""

from __future__ import annotations


class SipParseError(ValueError):
    """A message is malformed; `status` is the response it deserves (400 unless said)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class SdpError(ValueError):
    """An SDP offer cannot be taken: answer 488 (or 400 when it is not SDP at all)."""

    def __init__(self, message: str, status: int = 488) -> None:
        super().__init__(message)
        self.status = status


class SipRejected(Exception):
    """A request is refused with a final response (status, reason, extra headers)."""

    def __init__(
        self, status: int, reason: str, headers: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.headers = headers or []
