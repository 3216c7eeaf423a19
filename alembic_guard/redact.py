"""Passwords out of every message: one place that parses database targets and hides their secrets.

A database target is accepted in the two forms libpq reads (PostgreSQL manual, "Connection
Strings"): a URI (``postgresql://user:pass@host:port/db?password=…``, also SQLAlchemy's
``postgresql+driver://``) or a key=value conninfo (``host=… port=… dbname=… user=… password=…``).
Both are parsed by libpq itself, through :func:`psycopg.conninfo.conninfo_to_dict`; ``?password=``
and ``PGPASSFILE`` / ``passfile=`` are then honoured by libpq when it connects.

:func:`redact` hides passwords in free text (our messages, PostgreSQL's and psycopg's error
messages, which may echo a conninfo): the ``user:pass@`` of a URI, ``password=`` as a URI query
parameter or a conninfo keyword (quoted or not), and every password :func:`parse_target` has seen,
wherever it appears.
"""

from __future__ import annotations

import os
import re
from typing import Any

from .errors import GuardError

MASK = "***"

# Every password met while parsing a target, so text that quotes it some other way is cleaned too.
_SECRETS: set[str] = set()

# Free-text patterns (not SQL): the password of a URI's user info, of a ?password= / &password=
# query parameter, and of a password=… conninfo keyword (single-quoted with \' escapes, or bare).
# (the password runs to the last "@" of the URI: an unescaped "@" in it would otherwise leave the rest
# of it in the host part)
_URI_USERINFO = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/?#@\s'\"]*):(?P<pw>[^\s'\"]*)@"
                           r"(?=[^@\s'\"]*(?:[\s'\"]|$))")
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<pw>[^&#\s'\"]*)", re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^\s'\"&]+)", re.IGNORECASE)


def remember_secret(secret: str | None) -> None:
    """Hide ``secret`` wherever it appears in later :func:`redact` output (too short ones excepted:
    a one-letter password would mask every such letter)."""
    if secret and len(secret) >= 3:
        _SECRETS.add(secret)


def redact(text: str) -> str:
    """``text`` with every password replaced by ``***`` (see the module doc for the forms)."""
    if not text:
        return text
    remember_secret(os.environ.get("PGPASSWORD"))
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, MASK)
    # Each pattern is run only where it can match (a JSON report of a long history is megabytes,
    # and the scheme pattern tries every letter): user info ends with "@"; both password patterns
    # need the word, found case-insensitively as re.IGNORECASE does (casefold maps "ſ" to "s" too).
    if "@" in text:
        text = _URI_USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text)
    if "password" in text.casefold():
        text = _QUERY_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)
        text = _KEYWORD_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)
    return text


def parse_target(target: str, what: str = "the database URL") -> dict[str, str]:
    """libpq keyword parameters of a URI or key=value conninfo ``target`` (strings, as libpq keeps
    them; a SQLAlchemy ``postgresql+driver://`` prefix is read as ``postgresql://``).

    Raises GuardError, naming ``what`` and showing ``target`` redacted, when libpq cannot parse it,
    it points to another database system, or its port is not a number."""
    text = target.strip()
    scheme = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*)://", text)
    if scheme:
        name = scheme.group(1).lower()
        base = name.split("+", 1)[0]
        if base not in ("postgresql", "postgres"):
            raise GuardError(f"{what} must point to PostgreSQL, not {base}: {redact(target)!r}.")
        text = "postgresql" + text[len(name):]
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        params: dict[str, Any] = conninfo_to_dict(text)
    except ProgrammingError as exc:
        reason = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        raise GuardError(f"{what} {redact(target)!r} is neither a postgresql:// URL nor a libpq key=value "
                         f"connection string: {reason}.",
                         hint="Write e.g. postgresql://USER@HOST:5432/DBNAME or 'host=HOST port=5432 "
                              "dbname=DBNAME user=USER' (a password may go in it, in PGPASSFILE or in "
                              "~/.pgpass).") from None
    params = {k: str(v) for k, v in params.items() if v is not None}
    remember_secret(params.get("password"))
    if scheme and "@" in params.get("host", ""):
        # libpq ends the user info at the first "@": the rest of a password holding a raw "@" went
        # into the host name, and would be shown (and tried) as one
        userinfo = text.split("://", 1)[1].rsplit("@", 1)[0]
        remember_secret(userinfo.partition(":")[2])
        raise GuardError(f"{what} {redact(target)!r} has an \"@\" in its user name or password: "
                         "libpq would read the part after it as the host name.",
                         hint="Percent-encode it as %40 (a password p@ss is written p%40ss in the URL), or "
                              "put the password in PGPASSFILE or ~/.pgpass.")
    port = params.get("port")
    if port is not None and not all(p.strip().isdigit() for p in port.split(",")):
        raise GuardError(f"{what} {redact(target)!r} has port {port!r}, which is not a number.",
                         hint="PostgreSQL listens on 5432 by default.")
    return params


def describe(params: dict[str, str]) -> str:
    """A password-free ``user@host:port/dbname`` for messages."""
    user = params.get("user") or ""
    host = params.get("host") or params.get("hostaddr") or "localhost"
    where = f"{host}:{params['port']}" if params.get("port") else host
    dbname = params.get("dbname")
    return f"{user + '@' if user else ''}{where}{'/' + dbname if dbname else ''}"
