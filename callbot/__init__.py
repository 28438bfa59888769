"""callbot: a self-hosted voice bot for call centres."""

__version__ = "0.1.0"
