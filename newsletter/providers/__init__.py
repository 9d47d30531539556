"""Providers hand finished messages to a mail system: the outbox folder, SMTP, an HTTP API."""
