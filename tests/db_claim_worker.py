"""One sending worker for the multi-process test: claim recipients of a run, send each by SMTP, mark it.

Run as `python tests/db_claim_worker.py DATABASE_URL ISSUE SMTP_PORT`; prints `ready`, then one line
per message handed over. It does what `newsletter send` will do on PostgreSQL: take the issue's lock
shared, recover what dead workers left, claim a few recipients at a time, and commit `sending`
before each handover and `sent` after it.
"""

from __future__ import annotations

import smtplib
import sys
import time
from email.message import EmailMessage
from pathlib import Path

from newsletter.db import ledger as lg
from newsletter.db.engine import database_url, open_engine
from newsletter.db.locks import issue_lock


def main(url: str, issue_id: str, port: int) -> int:
    engine = open_engine(database_url(Path("."), url, {}))
    with issue_lock(engine, issue_id, shared=True), lg.Ledger(engine) as ledger:
        ledger.recover_unknown(issue_id)
        print("ready", flush=True)
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            while rows := ledger.claim(issue_id, limit=3):
                for row in rows:
                    message = EmailMessage()
                    message["From"], message["To"], message["Subject"] = "n@example.org", row.email, issue_id
                    message["Message-ID"] = f"<{issue_id}.{row.rowid}@example.org>"
                    message.set_content("Hello")
                    ledger.mark_sending(issue_id, row.email)
                    smtp.send_message(message)
                    ledger.mark_sent(issue_id, row.email, message["Message-ID"], None)
                    print(row.email, flush=True)
                    time.sleep(0.002)  # so the three workers interleave on a fast machine
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
