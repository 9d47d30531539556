# ruff: noqa: E501 - test names are long, and kept whole so a grep finds them
"""Issue 26's hostile inputs and faults, each with what must happen and the tests that try it.

Every case names the tests (pytest node ids, all their parameters included) that reproduce it with
the real part (SQLite, PostgreSQL, Dovecot, waitress, a loopback HTTPS server); the suite runs them
and a case holds when every one of its tests passes. The cases are the issue's nine items as its
text lists them, plus the earlier rounds' hostile files and faults that tests already cover.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    item: int  # the item (0: an earlier round's case)
    name: str
    expected: str
    tests: tuple[str, ...]


def case(item: int, name: str, expected: str, *tests: str) -> Case:
    return Case(item, name, expected, tests)


T = "tests/"
CASES = (
    # 1. A database URL that does not parse; the workspace's own database; the old files.
    case(1, "postgresql+psycopg:/ (one slash) and other broken URLs", "one-line error naming the key, no file",
         T + "test_db_engine.py::test_a_url_that_does_not_parse_is_one_line_never_a_file_and_never_the_password",
         T + "test_config.py::test_every_section_is_checked_in_one_pass"),
    case(1, "password in NEWSLETTER_DATABASE_URL with a typo", "never a folder on disk, never printed",
         T + "test_no_secret_shown.py::test_a_database_url_never_shows_its_password"),
    case(1, "the issue's typo: finished issue, another database", "refused in one line; nobody mailed again",
         T + "test_db_identity.py::test_the_issues_typo_moves_nothing_and_mails_nobody_again",
         T + "test_db_identity.py::test_a_send_on_a_database_without_the_workspaces_sends_is_refused"),
    case(1, "a named database and the old CSV files", "nothing moves unasked; send says so in one line",
         T + "test_db_identity.py::test_a_named_database_gets_the_files_only_when_asked_and_a_send_says_so_in_one_line",
         T + "test_db_identity.py::test_the_files_move_into_another_database_only_when_asked"),
    case(1, "old CSV files onto a database in use", "refused: an old list never resubscribes anyone",
         T + "test_db_identity.py::test_the_files_never_move_into_a_database_already_in_use"),
    case(1, "a database copied with db copy", "the same ledger: no refusal, nothing resent",
         T + "test_db_identity.py::test_a_database_copied_with_db_copy_is_the_same_ledger"),
    # 2. Bounces and complaints act only on proof.
    case(2, "forged DSN, forged ARF, plain failure notice (no VERP)", "nobody suppressed; kept in Unverified",
         T + "test_bounces_imap.py::test_reports_without_proof_change_nobody_and_are_kept_listed_and_counted"),
    case(2, "unverified reports seen by the operator", "status counts them per issue and in all",
         T + "test_bounces_imap.py::test_reports_without_proof_change_nobody_and_are_kept_listed_and_counted",
         T + "test_bounces_sns.py::test_an_event_naming_only_an_address_is_unverified_even_for_a_real_recipient"),
    case(2, "a forged VERP token", "matches nobody",
         T + "test_bounces_decide.py::test_a_forged_token_matches_nobody"),
    case(2, "SES event naming only an address", "unverified, nothing changed",
         T + "test_bounces_sns.py::test_an_event_naming_only_an_address_is_unverified_even_for_a_real_recipient"),
    case(2, "a replayed SNS message months old", "403, nobody suppressed",
         T + "test_bounces_sns.py::test_a_replayed_message_older_than_an_hour_is_refused"),
    case(2, "a report dated before the reader's latest opt-in", "recorded, never suppresses",
         T + "test_bounces_sns.py::test_an_event_dated_before_the_readers_latest_opt_in_suppresses_nobody",
         T + "test_bounces_decide.py::test_a_report_about_a_message_sent_before_the_readers_latest_opt_in_suppresses_nobody"),
    case(2, "a tampered or foreign-signed SNS message", "refused, nothing changed",
         T + "test_bounces_sns.py::test_a_tampered_message_is_refused_and_changes_nothing",
         T + "test_bounces_sns.py::test_a_certificate_anywhere_but_the_regions_sns_is_never_fetched",
         T + "test_bounces_sns.py::test_another_topic_or_region_is_refused",
         T + "test_service_ses_events.py::test_a_signed_permanent_bounce_suppresses_and_a_forged_one_is_refused"),
    # 3. Tokens that survive any payload.
    case(3, "two or more topics, long and non-ASCII addresses, every purpose", "every link verifies",
         T + "test_service_tokens.py::test_every_token_the_service_makes_reads_back_whatever_its_payload",
         T + "test_service_app.py::test_a_long_address_with_every_topic_confirms_through_the_emailed_link"),
    case(3, "tokens already sent in emails (compressed shape)", "still verify",
         T + "test_service_tokens.py::test_a_compressed_token_sent_before_this_change_still_verifies",
         T + "test_service_tokens.py::test_the_unsubscribe_token_of_emails_already_sent_is_read_with_either_key"),
    case(3, "forged, truncated, expired tokens", "refused",
         T + "test_service_tokens.py::test_forged_truncated_and_expired_tokens_are_refused"),
    # 4. A poison message never blocks the mailbox.
    case(4, "5,000 nested MIME parts; random bytes", "quarantined, one line; the reports behind are read",
         T + "test_bounces_imap.py::test_a_poison_message_is_quarantined_and_the_reports_behind_it_are_read"),
    case(4, "a report with a 20 MB attachment", "read from its first part",
         T + "test_bounces_imap.py::test_a_report_with_a_20_mb_attachment_is_read_from_its_first_part",
         T + "test_bounces_notice.py::test_a_20_mb_attachment_is_read_only_as_far_as_the_report"),
    case(4, "a malformed report", "unrecognised, says what was missing",
         T + "test_bounces_notice.py::test_a_malformed_report_is_unrecognised_and_says_what_was_missing"),
    # 5. Import stays on the public web.
    case(5, "every non-public range", "named and refused",
         T + "test_import_public_web.py::test_every_non_public_range_is_named",
         T + "test_import_public_web.py::test_public_addresses_and_names_pass"),
    case(5, "a loopback page", "refused before any request (allowed by the setting)",
         T + "test_import_public_web.py::test_a_loopback_page_is_refused_before_any_request_and_fetched_when_allowed"),
    case(5, "a redirect to https://localhost:8444/admin", "refused at that hop, nothing written",
         T + "test_import_public_web.py::test_a_redirect_into_the_internal_network_is_refused_at_that_hop"),
    case(5, "feed entries linking to loopback with --pages", "refused, nothing written",
         T + "test_import_public_web.py::test_feed_pages_on_loopback_are_refused_and_nothing_is_written"),
    case(5, "a page trickling one byte every 5 s", "cut off at the deadline",
         T + "test_import_public_web.py::test_a_server_trickling_bytes_is_cut_off_at_the_deadline"),
    # 6. No secret in any output.
    case(6, "smtp:/user:pw@host, smtps:/..., every provider URL shape", "password never printed (5 commands)",
         T + "test_no_secret_shown.py::test_a_provider_url_never_shows_its_password",
         T + "test_smtp.py::test_no_password_in_urls"),
    case(6, "every database URL shape with a password; non-numeric port", "one line, password hidden",
         T + "test_no_secret_shown.py::test_a_database_url_never_shows_its_password",
         T + "test_db_cli.py::test_a_server_that_does_not_answer_is_one_line_without_the_password",
         T + "test_db_cli.py::test_a_password_in_the_settings_file_is_refused"),
    case(6, "16 'a's and other weak signing secrets", "refused with how to make one",
         T + "test_secrets.py::test_a_bad_secret_is_refused_in_one_line_without_quoting_it",
         T + "test_secrets.py::test_a_random_secret_as_the_fix_makes_it_is_accepted"),
    case(6, "delivery.rate: .nan and other non-finite numbers", "refused in every numeric setting",
         T + "test_config.py::test_non_finite_numbers_are_refused_in_every_numeric_setting",
         T + "test_config.py::test_non_finite_delivery_numbers_are_refused"),
    case(6, "an IMAP login refused", "names the user and variable, never the password",
         T + "test_bounces_imap.py::test_a_refused_login_names_the_user_and_the_variable_never_the_password"),
    # 7. No traceback for an outside fault.
    case(7, "a lock folder made unwritable (status, send, send-due)", "one line naming it and the fix",
         T + "test_db_ledger.py::test_an_unwritable_lock_folder_is_one_line_naming_it_and_the_fix"),
    case(7, "a full disk", "one line, nothing half-written",
         T + "test_db_engine.py::test_a_full_disk_is_reported_and_nothing_is_half_written",
         T + "test_send_crash.py::test_a_disk_filling_mid_run_stops_it_with_one_line_and_the_next_send_resumes"),
    case(7, "serve --host that does not resolve", "one line",
         T + "test_service_server.py::test_serve_on_a_host_that_does_not_resolve_is_one_line"),
    case(7, "the file-descriptor limit under a burst", "one log line, no traceback, still answers",
         T + "test_service_server.py::test_at_the_file_descriptor_limit_the_log_has_one_line_and_no_traceback"),
    case(7, "a locked, read-only or vanished database under the service", "503, one log line per request",
         T + "test_service_faults.py::test_a_locked_sqlite_database_gives_503_and_no_half_written_subscriber",
         T + "test_service_faults.py::test_a_read_only_postgresql_database_gives_503_and_keeps_the_reader",
         T + "test_service_faults.py::test_a_database_that_is_gone_gives_503_on_pages_and_health"),
    case(7, "a corrupt, read-only, locked or newer database file", "one line with what to do",
         T + "test_db_engine.py::test_a_corrupt_sqlite_file_is_named_with_what_to_do",
         T + "test_db_engine.py::test_a_read_only_sqlite_file_is_named_with_what_to_do",
         T + "test_db_engine.py::test_a_locked_sqlite_database_says_who_to_wait_for",
         T + "test_db_engine.py::test_a_database_newer_than_the_tool_is_refused_untouched"),
    case(7, "first senders at once on a new PostgreSQL database", "one database id, no traceback",
         T + "test_db_identity.py::test_first_senders_at_once_on_postgresql_agree_on_the_databases_id"),
    case(7, "an unreachable mailbox; an untrusted certificate", "one line, exit 1",
         T + "test_bounces_imap.py::test_an_unreachable_mailbox_is_one_line_and_exit_1",
         T + "test_bounces_imap.py::test_a_server_certificate_the_system_does_not_trust_is_refused"),
    # 8. The service keeps what it promises.
    case(8, "erase form returned with an error", "posts to the erase URL again (absolute action)",
         T + "test_service_app.py::test_an_erase_returned_for_its_box_posts_to_the_erase_url_again"),
    case(8, "confirm/welcome mail stuck; a restart", "/health fails past the limit; the restart sends it",
         T + "test_service_app.py::test_mail_stuck_past_the_limit_fails_health_and_a_restart_sends_it"),
    case(8, "slow connections from one address + one-click unsubscribes", "cap holds; every unsubscribe lands",
         T + "test_service_server.py::test_slow_connections_from_one_address_hold_only_its_share_and_readers_get_through",
         T + "test_service_server.py::test_one_client_cannot_hold_more_than_its_share_of_connections",
         T + "test_service_server.py::test_a_request_trickling_one_header_line_at_a_time_is_closed_after_the_read_timeout"),
    case(8, "slow connections from many addresses filling the limit", "room is made; every unsubscribe lands",
         T + "test_service_server.py::test_slow_connections_from_many_addresses_filling_the_limit_make_room_for_readers",
         T + "test_service_server.py::test_slow_clients_that_never_finish_their_headers_do_not_stop_others"),
    case(8, "1,000 concurrent one-click unsubscribes", "1,000 recorded",
         T + "test_service_server.py::test_a_thousand_concurrent_one_click_unsubscribes_all_land"),
    case(8, "a signed SNS message over 64 KB; a 10 MB body", "read up to 256 KB; 413 beyond",
         T + "test_service_ses_events.py::test_a_signed_message_over_64_kb_gets_through_waitress_to_the_handler",
         T + "test_service_ses_events.py::test_an_sns_message_above_the_forms_limit_is_read_and_one_above_256_kb_refused",
         T + "test_service_server.py::test_a_10_mb_body_is_refused_by_the_server_with_413"),
    case(8, "signing up again while paused", "the pause ends, and the page says so",
         T + "test_service_app.py::test_signing_up_again_ends_a_pause_and_says_so"),
    case(8, "welcome email and data export", "newest sent issue; export has the deliveries",
         T + "test_service_app.py::test_the_welcome_names_the_newest_sent_issue_and_the_export_carries_deliveries"),
    case(8, "serve on a fresh workspace", "creates its database, answers, stops on SIGTERM",
         T + "test_service_server.py::test_newsletter_serve_answers_on_its_port_and_stops_on_sigterm"),
    case(8, "a PostgreSQL statement past its time limit", "one line",
         T + "test_service_faults.py::test_a_postgresql_statement_past_its_time_limit_is_one_line"),
    # 9. CSV exports safe in spreadsheets.
    case(9, "names like =cmd|' /C calc'!A0 and +SUM(1+1)", "exported behind an apostrophe; import strips it",
         T + "test_db_import.py::test_export_quotes_cells_a_spreadsheet_would_run_and_import_takes_the_quote_off"),
    # Earlier rounds: hostile files and inputs.
    case(0, "hostile YAML (anchors, tags, bombs) in the summary store", "refused in one line",
         T + "test_hostile_files.py::test_hostile_yaml_in_the_summary_store_is_refused_in_one_line",
         T + "test_hostile_files.py::test_deep_nesting_is_refused_in_one_line_with_the_file_and_line"),
    case(0, "an escape sequence in a subject", "never reaches a header",
         T + "test_hostile_files.py::test_an_escape_sequence_in_a_subject_never_reaches_a_header"),
    case(0, "a summary that is a FIFO or a device; an oversized file", "not read; refused without reading all",
         T + "test_hostile_files.py::test_a_summary_that_is_not_a_regular_file_is_not_read",
         T + "test_hostile_files.py::test_an_oversized_file_is_refused_without_reading_it_all"),
    case(0, "read-only output folder; output path that is a file", "one line",
         T + "test_hostile_files.py::test_a_read_only_output_folder_is_one_line",
         T + "test_hostile_files.py::test_an_output_path_that_is_a_file_is_one_line"),
    case(0, "a hostile file name in an error", "printed escaped",
         T + "test_hostile_files.py::test_an_error_quoting_a_hostile_file_name_is_printed_escaped"),
    case(0, "a template failing while rendering; not UTF-8", "one line with its place",
         T + "test_hostile_files.py::test_a_template_that_fails_while_rendering_is_one_line_with_its_place",
         T + "test_hostile_files.py::test_a_template_that_is_not_utf8_is_one_line"),
    case(0, "subscriber files: bad rows, not UTF-8, opt-outs, erased addresses", "reported by line; never resubscribed",
         T + "test_db_import.py::test_invalid_rows_are_reported_with_file_and_line_and_the_rest_imported",
         T + "test_db_import.py::test_a_file_that_is_not_utf8_is_refused_whole_with_its_line",
         T + "test_db_import.py::test_an_opt_out_anywhere_in_the_file_wins_whatever_its_case",
         T + "test_db_import.py::test_a_suppressed_or_erased_address_is_never_resubscribed_and_each_is_reported"),
    case(0, "a kill at four points of a send, on SQLite and PostgreSQL", "0 duplicates, nobody skipped",
         T + "test_send_crash.py"),
    case(0, "two senders on one PostgreSQL run", "none twice",
         T + "test_db_ledger.py::test_two_senders_never_claim_one_recipient",
         T + "test_send_crash.py::test_three_senders_share_one_postgresql_run_and_a_killed_one_loses_nobody"),
    case(0, "SMTP faults: 451/550, dropped connection, pipelined 421, untrusted certificate", "retried or stopped, never twice",
         T + "test_smtp.py::test_451_is_transient_550_is_permanent_and_the_connection_carries_on",
         T + "test_smtp.py::test_a_dropped_connection_is_re_established",
         T + "test_smtp.py::test_pipelined_421_before_the_body_is_retried_once_on_a_fresh_connection",
         T + "test_smtp.py::test_untrusted_certificate_stops_the_run"),
)  # fmt: skip
