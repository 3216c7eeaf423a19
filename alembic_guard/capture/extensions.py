"""Stand-ins for common extensions the shadow server does not ship.

The embedded PostgreSQL wheel has no ``pgcrypto`` and no ``uuid-ossp``, yet countless histories
start with ``CREATE EXTENSION "uuid-ossp"`` and use ``uuid_generate_v4()`` in column defaults. When
the shadow lacks such an extension (``pg_available_extensions``), its ``CREATE EXTENSION`` runs as a
no-op and SQL functions with the same names and signatures are created instead, so the schema the
revisions build is the same. The functions are stand-ins (e.g. ``crypt()`` does not hash like
pgcrypto's): fine for DDL, defaults and the shadow's empty tables, not for data. The report says so.
"""

from __future__ import annotations

from typing import Any

from pglast import ast
from sqlalchemy import event
from sqlalchemy.engine import Engine

from ..sql.parse import parse_one
from ..trace.catalog import fetch

_UUID_OSSP = [
    "CREATE FUNCTION {s}uuid_generate_v1() RETURNS uuid LANGUAGE sql VOLATILE AS 'SELECT gen_random_uuid()'",
    "CREATE FUNCTION {s}uuid_generate_v1mc() RETURNS uuid LANGUAGE sql VOLATILE AS 'SELECT gen_random_uuid()'",
    "CREATE FUNCTION {s}uuid_generate_v4() RETURNS uuid LANGUAGE sql VOLATILE AS 'SELECT gen_random_uuid()'",
    "CREATE FUNCTION {s}uuid_generate_v3(namespace uuid, name text) RETURNS uuid LANGUAGE sql IMMUTABLE "
    "AS 'SELECT md5(namespace::text || name)::uuid'",
    "CREATE FUNCTION {s}uuid_generate_v5(namespace uuid, name text) RETURNS uuid LANGUAGE sql IMMUTABLE "
    "AS 'SELECT md5(namespace::text || name)::uuid'",
    "CREATE FUNCTION {s}uuid_nil() RETURNS uuid LANGUAGE sql IMMUTABLE "
    "AS 'SELECT ''00000000-0000-0000-0000-000000000000''::uuid'",
    "CREATE FUNCTION {s}uuid_ns_dns() RETURNS uuid LANGUAGE sql IMMUTABLE "
    "AS 'SELECT ''6ba7b810-9dad-11d1-80b4-00c04fd430c8''::uuid'",
    "CREATE FUNCTION {s}uuid_ns_url() RETURNS uuid LANGUAGE sql IMMUTABLE "
    "AS 'SELECT ''6ba7b811-9dad-11d1-80b4-00c04fd430c8''::uuid'",
    "CREATE FUNCTION {s}uuid_ns_oid() RETURNS uuid LANGUAGE sql IMMUTABLE "
    "AS 'SELECT ''6ba7b812-9dad-11d1-80b4-00c04fd430c8''::uuid'",
    "CREATE FUNCTION {s}uuid_ns_x500() RETURNS uuid LANGUAGE sql IMMUTABLE "
    "AS 'SELECT ''6ba7b814-9dad-11d1-80b4-00c04fd430c8''::uuid'",
]
_PGCRYPTO = [
    # gen_random_uuid() is built in since PostgreSQL 13.
    "CREATE FUNCTION {s}digest(data text, type text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT "
    "AS 'SELECT sha256(convert_to(data, ''UTF8''))'",
    "CREATE FUNCTION {s}digest(data bytea, type text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT "
    "AS 'SELECT sha256(data)'",
    "CREATE FUNCTION {s}hmac(data text, key text, type text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT "
    "AS 'SELECT sha256(convert_to(key || data, ''UTF8''))'",
    "CREATE FUNCTION {s}hmac(data bytea, key bytea, type text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT "
    "AS 'SELECT sha256(key || data)'",
    "CREATE FUNCTION {s}gen_random_bytes(n integer) RETURNS bytea LANGUAGE sql VOLATILE STRICT "
    "AS 'SELECT decode(repeat(md5(random()::text), (n + 15) / 16), ''hex'')'",
    "CREATE FUNCTION {s}gen_salt(type text) RETURNS text LANGUAGE sql VOLATILE STRICT "
    "AS 'SELECT ''$1$'' || left(md5(random()::text), 8)'",
    "CREATE FUNCTION {s}gen_salt(type text, iter_count integer) RETURNS text LANGUAGE sql VOLATILE STRICT "
    "AS 'SELECT ''$1$'' || left(md5(random()::text), 8)'",
    "CREATE FUNCTION {s}crypt(password text, salt text) RETURNS text LANGUAGE sql IMMUTABLE STRICT "
    "AS 'SELECT salt || md5(salt || password)'",
    # PGP: the stand-ins only round-trip (encrypt = encode, decrypt = decode), enough for migrations
    # that re-encrypt columns of the shadow's empty or seeded tables.
    "CREATE FUNCTION {s}pgp_sym_encrypt(data text, psw text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT "
    "AS 'SELECT convert_to(data, ''UTF8'')'",
    "CREATE FUNCTION {s}pgp_sym_encrypt(data text, psw text, options text) RETURNS bytea LANGUAGE sql "
    "IMMUTABLE STRICT AS 'SELECT convert_to(data, ''UTF8'')'",
    "CREATE FUNCTION {s}pgp_sym_decrypt(msg bytea, psw text) RETURNS text LANGUAGE sql IMMUTABLE STRICT "
    "AS 'SELECT convert_from(msg, ''UTF8'')'",
    "CREATE FUNCTION {s}pgp_sym_decrypt(msg bytea, psw text, options text) RETURNS text LANGUAGE sql "
    "IMMUTABLE STRICT AS 'SELECT convert_from(msg, ''UTF8'')'",
    "CREATE FUNCTION {s}pgp_sym_encrypt_bytea(data bytea, psw text) RETURNS bytea LANGUAGE sql IMMUTABLE "
    "STRICT AS 'SELECT data'",
    "CREATE FUNCTION {s}pgp_sym_decrypt_bytea(msg bytea, psw text) RETURNS bytea LANGUAGE sql IMMUTABLE "
    "STRICT AS 'SELECT msg'",
    "CREATE FUNCTION {s}encrypt(data bytea, key bytea, type text) RETURNS bytea LANGUAGE sql IMMUTABLE "
    "STRICT AS 'SELECT data'",
    "CREATE FUNCTION {s}decrypt(data bytea, key bytea, type text) RETURNS bytea LANGUAGE sql IMMUTABLE "
    "STRICT AS 'SELECT data'",
    "CREATE FUNCTION {s}armor(data bytea) RETURNS text LANGUAGE sql IMMUTABLE STRICT "
    "AS 'SELECT encode(data, ''base64'')'",
    "CREATE FUNCTION {s}dearmor(data text) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT "
    "AS 'SELECT decode(data, ''base64'')'",
]
SHIMS = {"uuid-ossp": _UUID_OSSP, "pgcrypto": _PGCRYPTO}


def _quote(name: str) -> str:
    from ..sql.parse import quote_ident

    return quote_ident(name)


class ExtensionShims:
    """While installed, CREATE EXTENSION of a shimmed extension the shadow lacks becomes stand-ins."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self._created: set[tuple[int, str]] = set()  # (id of the DBAPI connection's server, ext)

    def install(self) -> None:
        event.listen(Engine, "before_cursor_execute", self._before, retval=True)

    def remove(self) -> None:
        if event.contains(Engine, "before_cursor_execute", self._before):
            event.remove(Engine, "before_cursor_execute", self._before)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        if executemany or "extension" not in statement.lower():
            return statement, parameters
        node = parse_one(statement)
        if not isinstance(node, ast.CreateExtensionStmt) or node.extname not in SHIMS:
            return statement, parameters
        dbapi = conn.connection.dbapi_connection
        if _available(dbapi, node.extname):
            return statement, parameters
        if _function_exists(dbapi, SHIMS[node.extname]):  # stand-ins made by an earlier revision
            return "SELECT 1", parameters
        schema = next((opt.arg.sval for opt in (node.options or ()) if opt.defname == "schema"
                       and isinstance(opt.arg, ast.String)), None)
        prefix = f"{_quote(schema)}." if schema else ""
        cur = dbapi.cursor()
        try:
            for sql in SHIMS[node.extname]:
                cur.execute(sql.format(s=prefix))
        finally:
            cur.close()
        note = (f"extension {node.extname} is not available on this shadow server: its CREATE EXTENSION ran as "
                f"a no-op and stand-in functions were created (same names, not the same results); use "
                f"--shadow local or --shadow-url for a server that has it")
        if note not in self.notes:
            self.notes.append(note)
        return "SELECT 1", parameters


def _available(dbapi: Any, name: str) -> bool:
    safe = name.replace("'", "''")
    return bool(fetch(dbapi, f"select 1 from pg_catalog.pg_available_extensions where name = '{safe}'"))


def _function_exists(dbapi: Any, shims: list[str]) -> bool:
    """Stand-ins already created (a re-run after a failure): CREATE EXTENSION IF NOT EXISTS again."""
    first = parse_one(shims[0].format(s=""))
    name = first.funcname[-1].sval
    return bool(fetch(dbapi, f"select 1 from pg_catalog.pg_proc where proname = '{name}'"))
