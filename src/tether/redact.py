"""Keep secrets out of logs: sign-in links carry `?token=…`, and access logs print paths."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

# One `name=value` of a query string; the value ends at &, # or whitespace.
_PARAM = re.compile(r"([?&])([^=&#\s]*)=([^&#\s]*)")
# Names that carry a credential: `token`, `access_token`, `key`, `api_key`, `apiKey`…
_SECRET_NAME = re.compile(r"(?:token|key)$|secret|password|signature", re.IGNORECASE)


def _masked(match: re.Match[str]) -> str:
    # Servers percent-decode names before reading them (`?%6Bey=` is Gemini's `key`), so
    # the decoded name decides.
    if _SECRET_NAME.search(unquote_plus(match.group(2))):
        return f"{match.group(1)}{match.group(2)}=[redacted]"
    return match.group(0)


def redact_query(text: str) -> str:
    """`/?token=tth_…&x=1` → `/?token=[redacted]&x=1`."""
    return _PARAM.sub(_masked, text)


class RedactQueryTokens(logging.Filter):
    """For uvicorn's access log, whose record args are (client, method, path, version,
    status): the path is redacted before it is formatted."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact_query(record.msg)
        return True
