"""The full call loop: hearing, dialogue, speaking and barge-in, behind one MediaHandler."""
