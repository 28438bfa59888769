"""SIP headers the flow and the controller get as caller metadata."""

from __future__ import annotations

from callbot.sip.message import SipRequest

_READ = (
    "From",
    "To",
    "Diversion",
    "History-Info",
    "P-Asserted-Identity",
    "User-to-User",
    "Referred-By",
)
_MAX_ENTRIES = 64
_MAX_KEY = 128
_MAX_VALUE = 1024


def caller_metadata(request: SipRequest) -> dict[str, str]:
    """From, To, Diversion, User-to-User, P-Asserted-Identity and every X- header."""
    out: dict[str, str] = {
        "sip_call_id": request.call_id[:_MAX_VALUE],
        "sip_request_uri": request.uri[:_MAX_VALUE],
    }
    for name in _READ:
        values = request.headers.get_all(name)
        if values:
            out[name] = ", ".join(values)[:_MAX_VALUE]
    for name, value in request.headers:
        if name.lower().startswith("x-") and len(out) < _MAX_ENTRIES:
            key = name[:_MAX_KEY]
            out[key] = (out[key] + ", " + value if key in out else value)[:_MAX_VALUE]
    return out
