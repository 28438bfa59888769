"""`callbot call`: a caller for people, to see the bot work in a minute."""
