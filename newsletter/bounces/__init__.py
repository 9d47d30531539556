"""After the send: delivery reports, complaints, SES events and the health of every issue.

Modules: settings (the `bounces:` section), classify (status code -> hard/soft), notice (one
message -> what it reports), mapping (a report -> recipient and issue), decide (suppress or
count, with the evidence in the event log), mailbox (the IMAP reader), sns (SES events through
Amazon SNS), health (an issue's rates against the email services' thresholds).
"""
