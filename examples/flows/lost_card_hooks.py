"""Python hooks of the lost-card example flows.

A real deployment would call the card system here; the example keeps a fake
that behaves like one (a reference number, a refusal for an unknown card), so
the conversation tests exercise both the success and the failure path.
"""

from __future__ import annotations


def block_card(card_last4: str, date_of_birth: str) -> dict[str, str]:
    """Block the card ending in ``card_last4``; return a reference for the caller."""
    if card_last4 == "0000":
        raise LookupError("no such card")
    # Deterministic, so conversation tests can assert the spoken reference.
    reference = "".join(str((int(d) * 7 + 3) % 10) for d in card_last4)
    return {"reference": reference, "status": "blocked"}
