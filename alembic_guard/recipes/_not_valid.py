"""The NOT VALID form shared by the FOREIGN KEY and CHECK recipes: ``ADD CONSTRAINT … NOT VALID``
(catalog only, enforced for new rows at once), then ``VALIDATE CONSTRAINT`` in a transaction of its
own, which scans under SHARE UPDATE EXCLUSIVE (reads and writes go on).

Source: PostgreSQL docs, ALTER TABLE, "ADD table_constraint [ NOT VALID ]" and "VALIDATE
CONSTRAINT" (https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES).
"""

from __future__ import annotations

import copy
from typing import ClassVar

from pglast import ast
from pglast.enums import AlterTableType, ConstrType

from ..rewrite.sqlrewrite import SqlRewrite
from ..sql.parse import range_name
from ._alter_table import around, commands, find_command, validate_step
from .base import Recipe, Refusal


def default_name(table: str, columns: list[str], suffix: str) -> str:
    """The name PostgreSQL gives an unnamed inline constraint (``<table>_<column>_<suffix>``)."""
    return f"{table}_{'_'.join(columns)}_{suffix}"[:63]


class NotValidRecipe(Recipe):
    """ADD CONSTRAINT (or an inline one of ADD COLUMN) of ``contype`` → NOT VALID + VALIDATE."""

    contype: ClassVar[ConstrType]
    label: ClassVar[str] = ""
    suffix: ClassVar[str] = ""
    nodes = (ast.AlterTableStmt,)

    def mine(self, con) -> bool:
        return isinstance(con, ast.Constraint) and con.contype == self.contype and not con.skip_validation

    def claims_validate(self, facts, table: str, name: str) -> bool:
        """Whether a VALIDATE CONSTRAINT of ``name`` is this recipe's (by the catalog's definition)."""
        return False

    def rewrite_sql(self, node, facts) -> SqlRewrite | None:
        table = range_name(node.relation)
        if not facts.preexisting(table):
            return None
        i = find_command(node, lambda c: c.subtype == AlterTableType.AT_ValidateConstraint)
        if i is not None and len(commands(node)) == 1 and self.claims_validate(facts, table, commands(node)[0].name):
            return SqlRewrite(what=f"VALIDATE CONSTRAINT {commands(node)[0].name} on {table} → in a transaction of "
                                   "its own (the locks taken earlier are released first)",
                              steps=[validate_step(node.relation, commands(node)[0].name)])
        i = find_command(node, lambda c: c.subtype == AlterTableType.AT_AddConstraint and self.mine(c.def_))
        if i is not None:
            con = commands(node)[i].def_
            if not con.conname:
                raise Refusal(f"the {self.label} constraint has no name: name it so that it can be validated "
                              "in a second step")
            add = copy.deepcopy(node)
            cmd = commands(add)[i]
            add.cmds = (cmd,)
            con = cmd.def_
        else:
            i = find_command(node, lambda c: c.subtype == AlterTableType.AT_AddColumn
                             and any(self.mine(k) for k in c.def_.constraints or ()))
            if i is None:
                return None
            add, con = self.split_inline(node, i)
        con.skip_validation = True
        con.initially_valid = False
        from ..rewrite.sqlrewrite import SqlStep, deparse

        steps = around(node, i, [SqlStep(deparse(add)), validate_step(node.relation, con.conname)])
        return SqlRewrite(what=f"ADD {self.label} {con.conname} on {table} → NOT VALID, then VALIDATE CONSTRAINT "
                               "in a transaction of its own (SHARE UPDATE EXCLUSIVE while it scans)", steps=steps)

    def split_inline(self, node, i: int):
        """ADD COLUMN c … <constraint> → ``ADD COLUMN c …, ADD CONSTRAINT <name> <constraint>``: the
        constraint becomes a table constraint of its own (named as PostgreSQL would name it), so it
        can be NOT VALID."""
        add = copy.deepcopy(node)
        cmd = commands(add)[i]
        coldef = cmd.def_
        mine = [k for k in coldef.constraints if self.mine(k)]
        if len(mine) != 1:
            raise Refusal(f"ADD COLUMN {coldef.colname} declares several {self.label} constraints: add the column "
                          "first, then each constraint NOT VALID")
        con = mine[0]
        coldef.constraints = tuple(k for k in coldef.constraints if k is not con) or None
        con.conname = con.conname or default_name(node.relation.relname, [coldef.colname], self.suffix)
        if con.contype == ConstrType.CONSTR_FOREIGN:
            con.fk_attrs = (ast.String(sval=coldef.colname),)
        add.cmds = (cmd, ast.AlterTableCmd(subtype=AlterTableType.AT_AddConstraint, def_=con,
                                           behavior=cmd.behavior))
        return add, con

