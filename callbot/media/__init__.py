"""Wire formats and media transports: pure, synchronous, bounds-checked code."""
