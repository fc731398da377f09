"""Keep secrets out of logs: sign-in links carry `?token=…`, and access logs print paths."""

from __future__ import annotations

import logging
import re

# `token`, `access_token`, `auth_token`, `key`… in a query string; the value ends at & or #.
_SECRET_PARAM = re.compile(r"([?&](?:[a-z_]*token|key)=)[^&#\s]*", re.IGNORECASE)


def redact_query(text: str) -> str:
    """`/?token=tth_…&x=1` → `/?token=[redacted]&x=1`."""
    return _SECRET_PARAM.sub(r"\1[redacted]", text)


class RedactQueryTokens(logging.Filter):
    """For uvicorn's access log, whose record args are (client, method, path, version,
    status): the path is redacted before it is formatted."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact_query(record.msg)
        return True
