"""What `database:` (or NEWSLETTER_DATABASE_URL) holds: a database URL that parses, or a file path.

Anything that starts like a URL (`scheme://`, or a database's name before a colon, as in the typo
`postgresql+psycopg:/user@host/db`) must parse as a URL, or it is refused: a typo must never become
a new SQLite file (and a password a folder name). Problems are worded with the password hidden.
Pure: no SQLAlchemy here (db/engine.py builds the URL), so the settings' schema can use it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from newsletter.text import shown_url

# scheme[+driver]: a one-letter "scheme" is a Windows drive (C:\data\state.sqlite3), not a URL.
_SCHEME = re.compile(r"(?P<backend>[A-Za-z][A-Za-z0-9.-]+)(?:\+(?P<driver>[A-Za-z0-9_]*))?:")
DATABASES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql", "cockroachdb")
SUPPORTED = ("sqlite", "postgresql", "postgres")
EXAMPLE = "postgresql+psycopg://user@host/db"


def looks_like_url(raw: str) -> bool:
    """Whether `raw` is meant as a URL (so it must parse as one), not as a file path."""
    found = _SCHEME.match(raw.strip())
    if not found:
        return False
    return "://" in raw or bool(found["driver"]) or found["backend"].lower() in DATABASES


def url_problem(raw: str) -> str | None:
    """What is wrong with a database URL, in one line with the password hidden; None when it parses."""
    text = raw.strip()
    found = _SCHEME.match(text)
    if not found or not looks_like_url(text):
        return None
    shown = shown_url(text)
    scheme = found[0]
    backend = found["backend"].lower()
    if not text[len(scheme) :].startswith("//"):
        if backend == "sqlite":
            return f"{shown!r} is not a database URL: write sqlite:/// and the file's path, or the path"
        return f"{shown!r} is not a database URL: write {scheme}// then the host, e.g. {EXAMPLE}"
    if backend not in SUPPORTED:
        return f"{shown!r}: {backend} is not supported; use SQLite (a file path) or {EXAMPLE}"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number from 0 to 65535
    except ValueError:
        return f"{shown!r}: the host or port does not parse (a port is 1 to 65535), e.g. {EXAMPLE}"
    if backend != "sqlite" and not parts.hostname and "host=" not in parts.query:
        return f"{shown!r}: the URL needs a host, e.g. {EXAMPLE}"
    if backend == "sqlite" and not parts.path.strip("/"):
        return f"{shown!r}: give the SQLite file's path, e.g. sqlite:///.newsletter/state.sqlite3"
    return None
