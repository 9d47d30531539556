"""Per-recipient messages: tokens, MIME bytes on the fast path, DKIM."""
