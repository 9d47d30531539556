"""Corrections: tell exactly the readers who received a summary that it was corrected.

`newsletter correct SUMMARY_ID --note "..."` records the note in the summary's file, drafts a short
email (the summary's title, what changed, its text as it reads now) and sends it as a run of its own
in the delivery ledger (`correction-<summary id>-<n>`), through the same check gate, ledger and
providers as an issue: so exactly-once, resume, `unknown` and `--dry-run` hold, and `status` shows it.
Who gets it is the ledger's answer (`corrections.audience`), not the lists'.
"""
