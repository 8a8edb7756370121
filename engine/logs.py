"""Logging set-up: rich console output, with credentials scrubbed from every record.

Camera URLs and service URLs carry passwords (rtsp://user:pass@host); they end up in log
lines through exceptions and f-strings, so the scrubbing happens on the handler where nothing
can bypass it, not at each call site.
"""

from __future__ import annotations

import logging
import sys

from rich.logging import RichHandler

from .redaction import redact

__all__ = ["RedactingFilter", "setup_logging"]


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def setup_logging(level: str = "INFO") -> None:
    """Rich output for a person at a terminal; plain one-line records for files and supervisors."""
    handler: logging.Handler
    if sys.stderr.isatty():
        handler = RichHandler(rich_tracebacks=False, show_path=False, log_time_format="%H:%M:%S")
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
