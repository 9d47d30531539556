"""DKIM signing of finished messages, with the key read once and errors naming the setting."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from newsletter.errors import ConfigError
from newsletter.store.config import Settings

# The headers a DKIM signature covers: everything a forwarder must not change, unsubscribe included.
DKIM_HEADERS = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"Reply-To",
    b"List-Id",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"MIME-Version",
    b"Content-Type",
)
_PROBE = b"From: probe@example.org\r\nSubject: probe\r\n\r\nprobe\r\n"
Signer = Callable[[bytes], bytes]  # message bytes -> the DKIM-Signature header to put before them


def load_signer(settings: Settings) -> Signer | None:
    """A signer for the DKIM settings, or None; the key is read once, errors name the setting."""
    if settings.dkim is None:
        return None
    import dkim  # the dkimpy package (this module is newsletter.mail.dkim)

    path = Path(settings.dkim.key_file)
    path = path if path.is_absolute() else settings.workspace / path
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"newsletter.yaml: dkim.key_file: cannot read {path} ({exc.strerror})") from None
    if b"PRIVATE KEY" not in key:
        raise ConfigError(f"newsletter.yaml: dkim.key_file: {path} is not a PEM private key")
    selector, domain = settings.dkim.selector.encode(), settings.dkim.domain.encode()
    # Sign a probe now: a key that does not parse is one error before the run, not one per message.
    try:
        dkim.sign(_PROBE, selector, domain, key, include_headers=[b"From", b"Subject"])
    except Exception as exc:  # noqa: BLE001 - dkimpy raises several kinds for a bad key
        raise ConfigError(
            f"newsletter.yaml: dkim.key_file: {path} is not a usable private key ({exc})"
        ) from None

    def sign(data: bytes) -> bytes:
        try:
            return dkim.sign(
                data,
                selector,
                domain,
                key,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=list(DKIM_HEADERS),
            )
        except dkim.DKIMException as exc:
            raise ConfigError(f"newsletter.yaml: dkim: cannot sign with {path}: {exc}") from None

    return sign
