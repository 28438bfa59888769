"""Text-to-speech: synthesizer backends behind one stream contract."""
