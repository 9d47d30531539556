"""The service with its database locked, read-only or gone: a 503 page, a log line, nothing half-written."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator

import pytest
from service_helpers import SECRET, Service, link_in, signup_form, start_service, start_sink_thread, token_of
from sqlalchemy.engine import make_url

from newsletter.db.audience import person_data
from newsletter.db.suppression import is_suppressed
from newsletter.mail.tokens import make_token as list_token

UNAVAILABLE = "We cannot save or show your subscription right now; nothing was changed."


@pytest.fixture
def sink(monkeypatch) -> Iterator[object]:
    monkeypatch.setenv("NEWSLETTER_SECRET", SECRET)
    sink, controller = start_sink_thread()
    yield sink
    controller.stop()


def signed_up(svc: Service, email: str) -> str:
    """The confirm token of a fresh signup for `email`."""
    before = len(svc.sink.messages)
    svc.client.post("/signup", data=signup_form(email))
    return token_of(link_in(svc.sink.wait_for(before + 1)[-1], "confirm"))


def assert_unavailable(answer, caplog) -> None:
    page = answer.get_data(as_text=True)
    assert answer.status_code == 503 and UNAVAILABLE in page and "Traceback" not in page
    assert any(
        r.name == "newsletter.service" and "database unavailable" in r.getMessage() for r in caplog.records
    )


def test_a_locked_sqlite_database_gives_503_and_no_half_written_subscriber(tmp_path, sink, caplog):
    svc = start_service(tmp_path, sink, busy_timeout=0.2)
    try:
        token = signed_up(svc, "ann@example.org")
        holder = sqlite3.connect(make_url(str(svc.engine.url)).database, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # an import holding the write lock for longer than the timeout
        try:
            assert_unavailable(svc.client.post("/confirm", data={"token": token}), caplog)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert person_data(svc.engine, "ann@example.org") is None
        assert svc.client.post("/confirm", data={"token": token}).status_code == 200  # the link still works
    finally:
        svc.close()


def test_a_read_only_postgresql_database_gives_503_and_keeps_the_reader(
    tmp_path, sink, postgres_server, postgres_url, caplog
):
    svc = start_service(tmp_path, sink, database=postgres_url)
    try:
        svc.client.post("/confirm", data={"token": signed_up(svc, "ann@example.org")})
        name = make_url(postgres_url).database
        postgres_server.admin(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
        svc.engine.dispose()  # new connections see the setting
        one_click = list_token(SECRET.encode(), svc.settings.list_id, "ann@example.org")
        assert_unavailable(
            svc.client.post(f"/unsubscribe?token={one_click}", data={"List-Unsubscribe": "One-Click"}), caplog
        )
        postgres_server.admin(f"ALTER DATABASE {name} SET default_transaction_read_only = off")
        svc.engine.dispose()
        assert not is_suppressed(svc.engine, "ann@example.org")
    finally:
        svc.close()


def test_a_database_that_is_gone_gives_503_on_pages_and_health(
    tmp_path, sink, postgres_server, postgres_url, caplog
):
    caplog.set_level(logging.ERROR)
    svc = start_service(tmp_path, sink, database=postgres_url)
    try:
        token = signed_up(svc, "ann@example.org")
        postgres_server.admin(f"DROP DATABASE {make_url(postgres_url).database} WITH (FORCE)")
        assert_unavailable(svc.client.post("/confirm", data={"token": token}), caplog)
        health = svc.client.get("/health")
        assert health.status_code == 503 and health.get_json()["database"] == "unavailable"
    finally:
        svc.close()


def test_a_postgresql_statement_past_its_time_limit_is_one_line(postgres_url):
    """A server that stops answering mid-statement: the statement limit ends the wait with one line."""
    from sqlalchemy import text

    from newsletter.db.engine import DatabaseError, open_engine, reading

    engine = open_engine(make_url(postgres_url), statement_timeout=0.2)
    try:
        with reading(engine) as connection:
            assert connection.execute(text("SHOW statement_timeout")).scalar() == "200ms"
            assert connection.execute(text("SHOW lock_timeout")).scalar() == "1min"
        with pytest.raises(DatabaseError) as caught, reading(engine) as connection:
            connection.execute(text("SELECT pg_sleep(30)"))
        assert "did not finish within its time limit (statement_timeout)" in caught.value.message
        assert "\n" not in caught.value.message
    finally:
        engine.dispose()
