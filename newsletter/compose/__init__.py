"""Compose an issue: select the window's summaries, group them, draft the issue file."""
