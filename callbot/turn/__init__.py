"""Turn-taking policy: endpointing, speculative finals, barge-in arbitration."""
