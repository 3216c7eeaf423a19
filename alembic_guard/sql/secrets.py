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
             if a.name == "PASSWORD" and b.name == "SCONST"]
    for start, end in reversed(spans):  # token offsets are character offsets, ``end`` inclusive
        sql = sql[:start] + MASK + sql[end + 1:]
    return sql
