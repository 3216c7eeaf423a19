"""Read partitioning from the pglast tree, for the partition design rules: a partitioned table's key
columns, the columns of a PRIMARY KEY / UNIQUE a statement declares, DEFAULT partitions and
pg_partman's ``create_parent`` calls of a revision."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pglast import ast
from pglast.enums import AlterTableType, ConstrType
from pglast.visitors import Visitor

from ..sql.parse import parse_one, range_name

STRATEGIES = {"r": "RANGE", "l": "LIST", "h": "HASH"}


def same_table(a: str | None, b: str | None) -> bool:
    """``orders`` and ``public.orders`` name the same table (the default search_path)."""
    return bool(a and b) and a.removeprefix("public.") == b.removeprefix("public.")


def key_columns(spec: ast.PartitionSpec | None) -> tuple[list[str], bool]:
    """``(columns, has_expression)`` of a PARTITION BY clause: the plain key columns, and whether a
    key part is an expression (a unique constraint cannot cover it at all)."""
    cols: list[str] = []
    expression = False
    for elem in (spec.partParams if spec is not None else None) or ():
        if elem.name:
            cols.append(elem.name)
        else:
            expression = True
    return cols, expression


def catalog_key(partition_key: str | None) -> ast.PartitionSpec | None:
    """The PartitionSpec of ``pg_get_partkeydef`` text (``RANGE (created_at)``, TableFacts.partition_key)."""
    if not partition_key:
        return None
    node = parse_one(f"CREATE TABLE x () PARTITION BY {partition_key}")
    return node.partspec if isinstance(node, ast.CreateStmt) else None


def unique_keys(node) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """``(table, "PRIMARY KEY" | "UNIQUE", columns)`` of every primary key / unique constraint or unique
    index a CREATE TABLE, ALTER TABLE ADD CONSTRAINT / ADD COLUMN or CREATE UNIQUE INDEX declares."""
    kinds = {ConstrType.CONSTR_PRIMARY: "PRIMARY KEY", ConstrType.CONSTR_UNIQUE: "UNIQUE"}

    def of_column(table, coldef):
        for c in coldef.constraints or ():
            if c.contype in kinds:
                yield table, kinds[c.contype], (coldef.colname,)

    if isinstance(node, ast.CreateStmt) and node.relation is not None:
        table = range_name(node.relation)
        for e in node.tableElts or ():
            if isinstance(e, ast.ColumnDef):
                yield from of_column(table, e)
            elif isinstance(e, ast.Constraint) and e.contype in kinds:
                yield table, kinds[e.contype], tuple(k.sval for k in e.keys or ())
    elif isinstance(node, ast.AlterTableStmt):
        table = range_name(node.relation)
        for cmd in node.cmds or ():
            if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint) \
                    and cmd.def_.contype in kinds and cmd.def_.keys:
                yield table, kinds[cmd.def_.contype], tuple(k.sval for k in cmd.def_.keys)
            elif cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                yield from of_column(table, cmd.def_)
    elif isinstance(node, ast.IndexStmt) and node.unique and node.relation is not None:
        yield range_name(node.relation), "UNIQUE INDEX", tuple(p.name for p in node.indexParams or () if p.name)


def default_partition_of(node, parent: str) -> bool:
    """``node`` creates or attaches a DEFAULT partition of ``parent``."""
    if isinstance(node, ast.CreateStmt) and node.partbound is not None and node.partbound.is_default:
        return any(same_table(range_name(r), parent) for r in node.inhRelations or ())
    if isinstance(node, ast.AlterTableStmt) and same_table(range_name(node.relation), parent):
        return any(cmd.subtype == AlterTableType.AT_AttachPartition and cmd.def_.bound is not None
                   and cmd.def_.bound.is_default for cmd in node.cmds or ())
    return False


def partman_parent(node, parent: str) -> bool:
    """``node`` calls pg_partman's ``create_parent`` for ``parent`` (any schema; the table as its
    first or ``p_parent_table`` argument): partitions are created ahead by pg_partman's maintenance."""
    found = []

    class Calls(Visitor):
        def visit_FuncCall(self, ancestors, call):  # noqa: N802
            if call.funcname[-1].sval != "create_parent":
                return
            for arg in call.args or ():
                value = arg.arg if isinstance(arg, ast.NamedArgExpr) else arg
                if isinstance(value, ast.A_Const) and isinstance(value.val, ast.String) \
                        and same_table(value.val.sval, parent):
                    found.append(True)

    if node is not None:
        Calls()(node)
    return bool(found)


def nodes_of(sqls: Iterable[str]) -> Iterator:
    for sql in sqls:
        node = parse_one(sql)
        if node is not None:
            yield node
