"""The state database: subscribers, consent, suppression, the event log and the delivery ledger.

One code path for SQLite (the default, a file in the workspace) and PostgreSQL (SQLAlchemy Core,
Alembic migrations shipped in `migrations/`). Depends on nothing else in the package but
`newsletter.errors`. Modules: engine (open, errors), revisions (upgrade), schema, subscribers
(changes), audience (reads), csvimport/csvformats/csvexport, ledger, locks, migrate.
"""
