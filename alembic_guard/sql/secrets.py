"""Passwords out of the statements a trace keeps: a report, a cache file or a PR comment quotes them.

A revision may set a password in SQL: ``CREATE ROLE app LOGIN PASSWORD 'x'``, ``ALTER USER app
ENCRYPTED PASSWORD 'x'``, a user mapping's ``OPTIONS (password 'x')``. In every such clause of the
PostgreSQL grammar ("CREATE ROLE", "ALTER ROLE", "CREATE USER MAPPING" in the docs) the keyword
``PASSWORD`` is directly followed by the string constant, so :func:`mask_passwords` replaces exactly
that token, found by pglast's scanner (libpg_query's own lexer: quoting, ``E''`` escapes and dollar
quotes are its business, and SQL that does not parse is still scanned). The statement stays valid
SQL of the same shape, so the rules parse it as before.

Not reached: a password inside a string that is itself SQL (a DO block's body, ``EXECUTE '…'``) or
inside a connection string (``CREATE SUBSCRIPTION … CONNECTION 'password=…'``).
"""

from __future__ import annotations

import itertools

from pglast import parser

from ..redact import remember_secret

MASK = "'***'"


def mask_passwords(sql: str) -> str:
    """``sql`` with each string constant that directly follows the keyword PASSWORD replaced by
    ``'***'``; ``sql`` itself when there is none (or the scanner rejects it)."""
    if "password" not in sql.lower():  # the common case costs no scan; the scanner decides the rest
        return sql
    try:
        tokens = parser.scan(sql)
    except parser.ParseError:
        return sql
    spans = [(b.start, b.end) for a, b in itertools.pairwise(tokens)
             if b.name == "SCONST" and (a.name == "PASSWORD" or _quoted_password(sql, a))]
    for start, end in reversed(spans):  # token offsets are character offsets, ``end`` inclusive
        literal = sql[start:end + 1]
        # remembered, so that redact() hides it in any text that still quotes it (a server error)
        remember_secret(_inner(literal))
        sql = sql[:start] + MASK + sql[end + 1:]
    return sql


def _quoted_password(sql: str, token) -> bool:
    """An option named ``"password"`` (quoted: an identifier token, as a user mapping accepts it)."""
    return token.name == "IDENT" and sql[token.start:token.end + 1].strip('"').lower() == "password"


def _inner(literal: str) -> str:
    """The text between a string constant's quotes as written ('…', E'…', $tag$…$tag$)."""
    if literal[:1] in "eE" and literal[1:2] == "'":
        return literal[2:-1]
    if literal.startswith("$"):
        tag = literal[:literal.index("$", 1) + 1]
        return literal[len(tag):-len(tag)]
    return literal[1:-1]


def scrub_error(text: str) -> str:
    """A server error message without the statement excerpt PostgreSQL adds (``LINE n: …`` and the
    caret line under it) where the excerpt shows a password clause: cut at any width, it may hold
    part of the password, which no mask can find."""
    if "password" not in text.lower():
        return text
    out: list[str] = []
    skip_caret = False
    for line in text.split("\n"):
        if skip_caret and line.strip() == "^":
            skip_caret = False
            continue
        skip_caret = False
        if line.startswith("LINE ") and "password" in line.lower():
            out.append(line.split(":", 1)[0] + ": (the statement excerpt is left out: it sets a password)")
            skip_caret = True
            continue
        out.append(line)
    return "\n".join(out)
