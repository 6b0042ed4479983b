"""Keep secrets out of every byte the tool emits.

Two layers, because either alone can miss: (1) patterns that blank known secret carriers
(XML elements, bearer headers, session ids) whatever their value; (2) the exact values of secrets
the tool has seen this run (consumer keys and secrets, certificates, the access token), which the
org adapter registers as it reads them. `scrub` applies both; the logging filter runs it on every
record, and error paths run it on exception text.
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "***"

_PATTERNS = [
    # <consumerSecret>..</consumerSecret>, <ns0:certificate>..</ns0:certificate>, <sessionId>..
    re.compile(
        r"(<(?:\w+:)?(?:consumerKey|consumerSecret|certificate|sessionId|password)\b[^>]*>)"
        r"(.*?)(</(?:\w+:)?(?:consumerKey|consumerSecret|certificate|sessionId|password)>)",
        re.S,
    ),
]
#: A Salesforce access token (session id): the 15- or 18-character org id (`00D…`), "!", then
#: the token body. Masked whatever its value, since text relayed from other programs (sf's
#: error messages) can carry a token this run never saw.
_ACCESS_TOKEN = re.compile(r"\b00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?![A-Za-z0-9._-]{20,}")
_HEADER = re.compile(r"((?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=!-]+")
_JSON_SECRET = re.compile(
    r"""(["']?(?:access_token|consumerKey|consumerSecret|certificate|sessionId)["']?\s*[:=]\s*["'])"""
    r"""([^"']+)(["'])"""
)

_lock = threading.Lock()
_known: set[str] = set()


def register_secret(value: object) -> None:
    """Remember a secret value so it is masked wherever it appears later."""
    if isinstance(value, str) and len(value.strip()) >= 6:
        with _lock:
            _known.add(value.strip())
            # PEM bodies are often re-wrapped or logged line by line: mask each line too.
            for line in value.splitlines():
                if len(line.strip()) >= 16 and not line.startswith("-----"):
                    _known.add(line.strip())


def scrub(text: str) -> str:
    """Return text with every known secret and secret-shaped field masked."""
    if not text:
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    text = _HEADER.sub(lambda m: m.group(1) + MASK, text)
    text = _ACCESS_TOKEN.sub(MASK, text)
    text = _JSON_SECRET.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Renders each record's message once, scrubbed, so formatters never see raw arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not take the tool down
            message = str(record.msg)
        record.msg = scrub(message)
        record.args = None
        if record.exc_info:
            import traceback

            record.exc_text = scrub("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
        return True


def configure_logging(level: int) -> None:
    """Log to stderr through the redacting filter.

    zeep's transport logger dumps whole SOAP envelopes (session ids, consumer secrets) at DEBUG
    (wire doc §11.10); it stays at WARNING even when the user asks for debug output.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(getattr(old, "filters", None), list) and any(
            isinstance(f, RedactingFilter) for f in old.filters
        ):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("zeep", "zeep.transports", "zeep.xsd", "zeep.wsdl"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
