"""Intent matching: keyword/regex patterns first, then sentence embeddings."""
