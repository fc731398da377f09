"""Keep secrets out of logs: sign-in links carry `?token=…`, access logs print paths, and
a provider's `base_url` may carry `user:password@`."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

# Where a query parameter's name starts and ends; its value runs to &, # or whitespace.
_NAME = re.compile(r"[?&]([^=&#?\s]*)=")
_VALUE_END = re.compile(r"[&#\s]")
# Names that carry a credential: `token`, `access_token`, `key`, `api_key`, `apiKey`…
_SECRET_NAME = re.compile(r"(?:token|key)$|secret|password|signature", re.IGNORECASE)


def redact_query(text: str) -> str:
    """`/?token=tth_…&x=1` → `/?token=[redacted]&x=1`. Servers percent-decode names
    before reading them (`?%6Bey=` is Gemini's `key`), so the decoded name decides; a name
    is looked for after every `?` and `&`, even inside another parameter's value."""
    out: list[str] = []
    pos = 0
    for match in _NAME.finditer(text):
        if match.start() < pos or not _SECRET_NAME.search(unquote_plus(match.group(1))):
            continue  # inside a value already masked, or not a secret's name
        end = _VALUE_END.search(text, match.end())
        out += [text[pos : match.end()], "[redacted]"]
        pos = end.start() if end else len(text)
    out.append(text[pos:])
    return "".join(out)


# A URL's scheme and authority (`user:pass@host:port`): the authority runs to /, ? or #.
_AUTHORITY = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/?#]*)")


def redact_url(url: str) -> str:
    """`https://user:pass@host/p?key=k` → `https://[redacted]@host/p?key=[redacted]`: the
    whole userinfo goes (a user name can be a key too), up to the authority's last `@`,
    where URL parsers take the host to start."""
    match = _AUTHORITY.match(url)
    if match and "@" in match.group(2):
        host = match.group(2).rpartition("@")[2]
        url = f"{match.group(1)}[redacted]@{host}{url[match.end() :]}"
    return redact_query(url)


class RedactQueryTokens(logging.Filter):
    """For uvicorn's access log, whose record args are (client, method, path, version,
    status): the path is redacted before it is formatted."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact_query(record.msg)
        return True
