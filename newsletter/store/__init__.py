"""Workspace files: settings, topics, summaries, issues and subscriber lists; load, validate, write."""
