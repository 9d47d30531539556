"""One sending worker for the multi-process test: claim recipients of a run, send each by SMTP, mark it.

Run as `python tests/db_claim_worker.py DATABASE_URL ISSUE SMTP_PORT`; prints `ready`, then one line
per message handed over. It does what `newsletter send` does on PostgreSQL: take the issue's lock
shared, hold its own liveness lock, recover what dead senders left, claim one recipient at a time
(the claim commits `sending`, before the handover) and commit `sent` after it.
"""

from __future__ import annotations

import smtplib
import sys
import time
from email.message import EmailMessage
from pathlib import Path

from newsletter.db.engine import database_url, open_engine
from newsletter.db.locks import issue_lock
from newsletter.delivery import claims
from newsletter.delivery import ledger as lg


def main(url: str, issue_id: str, port: int) -> int:
    engine = open_engine(database_url(Path("."), url, {}))
    with issue_lock(engine, issue_id, shared=True), claims.sender(engine) as me, lg.Ledger(engine) as ledger:
        claims.recover(engine, issue_id, me)
        print("ready", flush=True)
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            while row := claims.claim(engine, issue_id, me):
                message = EmailMessage()
                message["From"], message["To"], message["Subject"] = "n@example.org", row.email, issue_id
                message["Message-ID"] = f"<{issue_id}.{row.rowid}@example.org>"
                message.set_content("Hello")
                smtp.send_message(message)
                ledger.mark_sent(issue_id, row.email, message["Message-ID"], None)
                print(row.email, flush=True)
                time.sleep(0.002)  # so the three senders interleave on a fast machine
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
