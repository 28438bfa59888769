"""Speech-to-text: recognizer backends behind one stream contract."""
