"""Read the schema a statement designs, for the schema design rules: columns with their types, primary
keys, foreign keys and indexes of CREATE TABLE / ALTER TABLE / CREATE INDEX, from the pglast tree.

Types are pglast ``TypeName``s; :func:`type_key` gives the catalog name PostgreSQL resolves the
spelling to (``timestamp`` for ``TIMESTAMP WITHOUT TIME ZONE``, ``int4`` for ``integer``,
``serial`` kept as written: it is not a real type but says "int4 + sequence").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from ..sql.parse import parse_one, range_name


@dataclass
class Column:
    table: str
    name: str
    type: ast.TypeName
    constraints: tuple
    new_table: bool  # declared by CREATE TABLE (else ADD COLUMN / ALTER COLUMN TYPE)


def type_key(t: ast.TypeName | None) -> str:
    """The type's last name part, lower case (``timestamp``, ``timestamptz``, ``int4``, ``serial``)."""
    if t is None or not t.names:
        return ""
    return t.names[-1].sval.lower()


def is_array(t: ast.TypeName) -> bool:
    return bool(t.arrayBounds)


def columns(node) -> Iterator[Column]:
    """Columns a statement declares or retypes."""
    if isinstance(node, ast.CreateStmt) and node.relation is not None:
        table = range_name(node.relation)
        for e in node.tableElts or ():
            if isinstance(e, ast.ColumnDef) and e.typeName is not None:
                yield Column(table, e.colname, e.typeName, tuple(e.constraints or ()), True)
    elif isinstance(node, ast.AlterTableStmt):
        table = range_name(node.relation)
        for cmd in node.cmds or ():
            if cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                yield Column(table, cmd.def_.colname, cmd.def_.typeName, tuple(cmd.def_.constraints or ()), False)
            elif cmd.subtype == AlterTableType.AT_AlterColumnType and isinstance(cmd.def_, ast.ColumnDef):
                yield Column(table, cmd.name, cmd.def_.typeName, (), False)


def _names(keys) -> tuple[str, ...]:
    return tuple(k.sval for k in keys or ())


def primary_key(node: ast.CreateStmt) -> tuple[str, ...]:
    """The primary key columns a CREATE TABLE declares (inline or as a table constraint)."""
    for e in node.tableElts or ():
        if isinstance(e, ast.ColumnDef):
            if any(c.contype == ConstrType.CONSTR_PRIMARY for c in e.constraints or ()):
                return (e.colname,)
        elif isinstance(e, ast.Constraint) and e.contype == ConstrType.CONSTR_PRIMARY:
            return _names(e.keys)
    return ()


@dataclass
class ForeignKey:
    table: str
    columns: tuple[str, ...]
    references: str | None
    name: str | None


def foreign_keys(node) -> Iterator[ForeignKey]:
    """Foreign keys a CREATE TABLE or ALTER TABLE ADD CONSTRAINT / ADD COLUMN … REFERENCES declares."""
    def from_constraint(table: str, con: ast.Constraint, column: str | None) -> ForeignKey:
        cols = _names(con.fk_attrs) or ((column,) if column else ())
        return ForeignKey(table, cols, range_name(con.pktable), con.conname)

    if isinstance(node, ast.CreateStmt) and node.relation is not None:
        table = range_name(node.relation)
        for e in node.tableElts or ():
            if isinstance(e, ast.ColumnDef):
                for c in e.constraints or ():
                    if c.contype == ConstrType.CONSTR_FOREIGN:
                        yield from_constraint(table, c, e.colname)
            elif isinstance(e, ast.Constraint) and e.contype == ConstrType.CONSTR_FOREIGN:
                yield from_constraint(table, e, None)
    elif isinstance(node, ast.AlterTableStmt):
        table = range_name(node.relation)
        for cmd in node.cmds or ():
            if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint) \
                    and cmd.def_.contype == ConstrType.CONSTR_FOREIGN:
                yield from_constraint(table, cmd.def_, None)
            elif cmd.subtype == AlterTableType.AT_AddColumn and isinstance(cmd.def_, ast.ColumnDef):
                for c in cmd.def_.constraints or ():
                    if c.contype == ConstrType.CONSTR_FOREIGN:
                        yield from_constraint(table, c, cmd.def_.colname)


def index_prefixes(node) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(table, leading plain columns) of every index a statement creates: CREATE INDEX, and the
    PRIMARY KEY / UNIQUE constraints of CREATE TABLE and ALTER TABLE (they build one)."""
    if isinstance(node, ast.IndexStmt) and node.relation is not None:
        cols = []
        for p in node.indexParams or ():
            if not getattr(p, "name", None):
                break
            cols.append(p.name)
        if node.whereClause is None and cols:
            yield range_name(node.relation), tuple(cols)
        return
    keyed = (ConstrType.CONSTR_PRIMARY, ConstrType.CONSTR_UNIQUE)
    if isinstance(node, ast.CreateStmt) and node.relation is not None:
        table = range_name(node.relation)
        for e in node.tableElts or ():
            if isinstance(e, ast.ColumnDef):
                if any(c.contype in keyed for c in e.constraints or ()):
                    yield table, (e.colname,)
            elif isinstance(e, ast.Constraint) and e.contype in keyed:
                yield table, _names(e.keys)
    elif isinstance(node, ast.AlterTableStmt):
        table = range_name(node.relation)
        for cmd in node.cmds or ():
            if cmd.subtype == AlterTableType.AT_AddConstraint and isinstance(cmd.def_, ast.Constraint) \
                    and cmd.def_.contype in keyed and cmd.def_.keys:
                yield table, _names(cmd.def_.keys)


def catalog_index_prefixes(indexdefs) -> Iterator[tuple[str, ...]]:
    """Leading plain columns of indexes given as ``pg_get_indexdef`` text (TableFacts.indexes)."""
    for definition in indexdefs:
        node = parse_one(definition)
        if node is not None:
            for _table, cols in index_prefixes(node):
                yield cols


def covered(fk_columns: tuple[str, ...], prefixes) -> bool:
    """An index whose leading columns are the foreign key's columns (in any order) serves the
    lookups a DELETE/UPDATE of the referenced row makes."""
    n = len(fk_columns)
    return any(len(p) >= n and set(p[:n]) == set(fk_columns) for p in prefixes)
