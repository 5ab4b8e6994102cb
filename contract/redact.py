"""Credentials never leave memory: every text the project writes or prints goes through `redact`.

A storage URI may carry credentials, as `s3://KEY:SECRET@bucket/...` or as query parameters
(`access_key`, `secret_key`, `session_token`, and the AWS-style spellings). Messages, logs,
tracebacks written to files, `validate` output, summary.json and the reports show them as
`***`; `config.yaml` stores the URI without them (`without_credentials`).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_PARAMETERS = ("access_key", "secret_key", "session_token", "aws_access_key_id", "aws_secret_access_key",
                     "aws_session_token", "password", "token")
_PARAMETER = re.compile(r"(?i)([?&;](?:" + "|".join(SECRET_PARAMETERS) + r")=)[^&\s'\"`)\]]*")
_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s'\"`]+@")


def redact(text: str) -> str:
    """`text` with every URI credential replaced by `***`."""
    return _USERINFO.sub(r"\1***@", _PARAMETER.sub(r"\1***", text))


def without_credentials(uri: str) -> str:
    """The URI with its user info and credential parameters left out (for files that are kept)."""
    if "://" not in uri:
        return uri
    parts = urlsplit(uri)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if k.lower() not in SECRET_PARAMETERS], safe=":/")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
