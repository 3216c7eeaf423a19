"""What a rewrite knows about the database a call runs against (``Facts``), and the volatility test.

``fix`` fills Facts from the trace and the shadow (rewrite.evidence), the autogenerate hook from the
database autogenerate compared against (autogen.db_facts); the steps only read them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..model import TableFacts


@dataclass
class Facts:
    """What is known about the database the call runs against.

    ``preexisting(table)`` — the table (qualified name) existed before the revision;
    ``relkind(table)`` — ``pg_class.relkind`` or None; ``statements`` — the SQL the call runs (from
    the trace, or compiled by Alembic for autogenerate); ``rewritten`` / ``scanned`` — tables the
    trace saw rewritten / sequentially scanned by those statements (None: not traced);
    ``lock_timeout_ms`` — lock_timeout in force (0 none); ``volatile(sql_expr)`` — whether a
    default expression is volatile (None: unknown).
    """

    preexisting: Callable[[str], bool] = lambda t: True
    relkind: Callable[[str], str | None] = lambda t: None
    statements: list[str] = field(default_factory=list)
    rewritten: set[str] | None = None
    scanned: set[str] | None = None
    lock_timeout_ms: int = 0
    server_version_num: int = 0
    volatile: Callable[[str], bool | None] = lambda expr: None
    matview_has_unique_index: Callable[[str], bool] | None = None
    has_default_partition: Callable[[str], bool] | None = None
    access_exclusive: bool = True  # the statements take ACCESS EXCLUSIVE on a pre-existing table
    # qualified table name → its catalog facts when the revision started (model.TableFacts)
    tables: dict[str, TableFacts] = field(default_factory=dict)

    def table(self, name: str | None) -> TableFacts | None:
        """The catalog facts of a table (qualified name, ``public.`` optional), or None."""
        if not name:
            return None
        return self.tables.get(name) or self.tables.get(name.removeprefix("public."))

    def column_type(self, table: str | None, column: str) -> str | None:
        """The SQL type of ``table.column`` (``format_type``: ``character varying(20)``), or None."""
        t = self.table(table)
        return t.columns.get(column) if t else None

    def primary_key(self, table: str | None) -> tuple[str, ...]:
        t = self.table(table)
        return t.primary_key if t else ()


def calls_volatile(expr: str, any_volatile: Callable[[list[str]], bool]) -> bool | None:
    """Whether the SQL expression ``expr`` calls a volatile function, for ``Facts.volatile``: None
    when it does not parse, False when it calls no function, else ``any_volatile(names)`` (the names
    of the functions it calls, looked up in ``pg_proc`` by the caller)."""
    from pglast.visitors import Visitor

    from ..sql.parse import parse_one

    node = parse_one(f"SELECT {expr}")
    if node is None:
        return None
    names: list[str] = []

    class V(Visitor):
        def visit_FuncCall(self, ancestors, n):  # noqa: N802
            names.append(n.funcname[-1].sval)

    V()(node)
    if not names:
        return False
    return any_volatile(names)
