"""RFC 4028 session timers: negotiate the interval and the refresher, answer 422."""

from __future__ import annotations

from dataclasses import dataclass

from callbot.sip.errors import SipRejected
from callbot.sip.headers import parse_params, tokens
from callbot.sip.message import Headers


@dataclass(frozen=True)
class SessionTimer:
    expires: int  # 0: no session timer on this dialog
    refresher: str  # "uac" (the caller refreshes) or "uas" (the bot does)
    peer_supports: bool

    def response_headers(self) -> list[tuple[str, str]]:
        if not self.expires:
            return []
        out = [("Session-Expires", f"{self.expires};refresher={self.refresher}")]
        if self.peer_supports:
            out.append(("Require", "timer"))
        return out

    def deadline(self) -> float:
        """Seconds to act: the bot refreshes at SE/2; a caller must by SE - min(32, SE/3)."""
        if self.refresher == "uas":
            return self.expires / 2
        return self.expires - min(32, self.expires / 3)


def negotiate(headers: Headers, our_expires: int, min_se: int) -> SessionTimer:
    """The dialog's session timer from an INVITE/UPDATE; raises SipRejected(422)."""
    supported = "timer" in tokens(headers.get("Supported")) | tokens(headers.get("Require"))
    raw = headers.get("Session-Expires")
    if raw is None:
        if supported:
            return SessionTimer(our_expires, "uac", True)
        return SessionTimer(0, "", False)
    value, _, params = raw.partition(";")
    value = value.strip()
    if not value.isdigit() or len(value) > 9:
        raise SipRejected(400, "Bad Session-Expires")
    requested = int(value)
    if requested < min_se:
        raise SipRejected(422, "Session Interval Too Small", [("Min-SE", str(min_se))])
    refresher = parse_params(params).get("refresher", "").lower()
    if refresher not in ("uac", "uas"):
        refresher = "uac" if supported else "uas"
    return SessionTimer(min(requested, max(our_expires, min_se)), refresher, supported)
