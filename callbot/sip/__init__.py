"""SIP signalling only; media always goes through callbot.media."""
