"""Delivery: audience, ledger, engine, sending, scheduling and the record of what was sent."""
