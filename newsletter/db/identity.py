"""Which database holds this workspace's delivery ledger, so a send never starts on the wrong one.

A database gets a random id the first time a send asks (a `meta` row, `database_id`; `db copy`
carries it along, so a copy is the same ledger). A send writes that id into the workspace
(`.newsletter/database.json`) with the issues it has started. A later send on a database with
another id is refused while that database has no record of an issue the workspace sent: a typo in
`database:` or NEWSLETTER_DATABASE_URL that reaches a new, empty database would otherwise send a
finished issue to everyone again. A database that does hold those runs (moved by other means) is
taken as the workspace's from then on.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from newsletter.db import schema as t
from newsletter.db.engine import describe, reading, writing
from newsletter.errors import ConfigError
from newsletter.store.fileio import atomic_write, read_text

ID_KEY = "database_id"
WORKSPACE_FILE = Path(".newsletter") / "database.json"


def database_id(engine: Engine) -> str:
    """This database's id, made on first use."""
    query = select(t.meta.c.value).where(t.meta.c.key == ID_KEY)
    with reading(engine) as connection:
        found = connection.execute(query).scalar()
    if found is not None:
        return str(found)
    try:
        with writing(engine) as connection:
            found = connection.execute(query).scalar()
            if found is None:
                found = uuid.uuid4().hex
                connection.execute(insert(t.meta).values(key=ID_KEY, value=found))
    except IntegrityError:  # several first senders at once on PostgreSQL: the first insert stands
        with reading(engine) as connection:
            found = connection.execute(query).scalar_one()
    return str(found)


def _remembered(workspace: Path) -> tuple[str | None, list[str]]:
    path = workspace / WORKSPACE_FILE
    if not path.is_file():
        return None, []
    try:
        data = json.loads(read_text(path, WORKSPACE_FILE))
        return str(data["database"]), [str(i) for i in data["sent"]]
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            f"{WORKSPACE_FILE}: unreadable; it names the database that holds this workspace's sends. "
            "Restore it from a backup, or remove it if `database:` surely names the right database"
        ) from None


def _remember(workspace: Path, identity: str, sent: list[str]) -> None:
    data = {"database": identity, "sent": sorted(set(sent))}
    atomic_write(workspace / WORKSPACE_FILE, json.dumps(data, indent=1) + "\n")


def remembers_another_database(engine: Engine, workspace: Path) -> bool:
    """Whether this workspace has sent from a database other than this one."""
    remembered, _ = _remembered(workspace)
    return remembered is not None and remembered != database_id(engine)


def require_known_database(engine: Engine, workspace: Path) -> None:
    """Refuse to send on a database that lacks a send this workspace made (see the module)."""
    remembered, sent = _remembered(workspace)
    if remembered is None:
        return
    identity = database_id(engine)
    if identity == remembered:
        return
    with reading(engine) as connection:
        recorded = set(connection.execute(select(t.runs.c.issue_id)).scalars())
    missing = [issue for issue in sent if issue not in recorded]
    if missing:
        raise ConfigError(
            f"this database ({describe(engine.url)}) has no record of issue {missing[0]}'s send; this "
            "workspace sent it from another database. Check `database:` in newsletter.yaml and "
            f"NEWSLETTER_DATABASE_URL; to start a new ledger on purpose, remove {WORKSPACE_FILE}"
        )
    _remember(workspace, identity, sent)  # the same runs: the ledger was moved here


def remember_send(engine: Engine, workspace: Path, issue_id: str) -> None:
    """Record that this workspace sends `issue_id` from this database."""
    remembered, sent = _remembered(workspace)
    identity = database_id(engine)
    if remembered != identity or issue_id not in sent:
        _remember(workspace, identity, [*sent, issue_id])
