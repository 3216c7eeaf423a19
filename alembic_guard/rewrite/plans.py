"""Expand/contract plans for what one revision cannot do safely (refused rewrites).

A plan is a sequence of revisions, each with the Alembic code of its ``upgrade()`` and the
deployment that must happen between them. Names are the user's; what alembic_guard cannot know
(a column type, a backfill value) appears as a placeholder in angle brackets.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sql.parse import quote_ident as q


@dataclass
class PlanStep:
    """One revision of an expand/contract plan: ``title`` (what and when) and ``code`` (the body of
    its ``upgrade()``)."""

    title: str
    code: str


def _t(table: str, schema: str | None) -> str:
    return f"{q(schema)}.{q(table)}" if schema else q(table)


def _args(table: str, schema: str | None) -> str:
    return f"{table!r}, schema={schema!r}" if schema else repr(table)


def _sync_trigger(table: str, schema: str | None, a: str, b: str, name: str, cast_b: str = "") -> str:
    fn = f"{table}_{name}_sync"
    return (f'op.execute("""\n'
            f'CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$\n'
            f'BEGIN\n'
            f'    NEW.{q(b)} := NEW.{q(a)}{cast_b};\n'
            f'    RETURN NEW;\n'
            f'END $$""")\n'
            f'op.run_with_lock_timeout("CREATE TRIGGER {fn} BEFORE INSERT OR UPDATE ON {_t(table, schema)} '
            f'FOR EACH ROW EXECUTE FUNCTION {fn}()")')


def rename_column(table: str, schema: str | None, old: str, new: str, type_src: str | None) -> list[PlanStep]:
    """Renaming a column breaks every running instance that still uses the old name."""
    typ = type_src or "<type of " + old + ">"
    return [
        PlanStep(f"expand: add {new} next to {old} and keep it in sync (deploy before the new code)",
                 f"op.run_with_lock_timeout(\"ALTER TABLE {_t(table, schema)} ADD COLUMN IF NOT EXISTS {q(new)} "
                 f"<SQL type of {old}>\")  # or op.add_column({_args(table, schema)}, sa.Column({new!r}, {typ}))\n"
                 + _sync_trigger(table, schema, old, new, f"{old}_to_{new}") + "\n"
                 f"op.backfill({_args(table, schema)}, {{{new!r}: {q(old)!r}}}, "
                 f"where=\"{q(new)} IS DISTINCT FROM {q(old)}\")"),
        PlanStep(f"deploy: the application reads and writes {new} only", "# no migration"),
        PlanStep(f"contract: drop the trigger and {old} (after every old instance is gone)",
                 f"op.execute(\"DROP TRIGGER IF EXISTS {table}_{old}_to_{new}_sync ON {_t(table, schema)}\")\n"
                 f"op.execute(\"DROP FUNCTION IF EXISTS {table}_{old}_to_{new}_sync()\")\n"
                 f"op.run_with_lock_timeout(\"ALTER TABLE {_t(table, schema)} DROP COLUMN IF EXISTS {q(old)}\")"),
    ]


def rename_table(old: str, new: str, schema: str | None) -> list[PlanStep]:
    """Renaming a table breaks running code; a view under the old name bridges the deployment."""
    return [
        PlanStep(f"expand: rename {old} to {new} and leave an updatable view named {old}, in one short transaction",
                 f"op.run_with_lock_timeout([\n"
                 f"    \"ALTER TABLE {_t(old, schema)} RENAME TO {q(new)}\",\n"
                 f"    \"CREATE VIEW {_t(old, schema)} AS SELECT * FROM {_t(new, schema)}\",\n"
                 f"])"),
        PlanStep(f"deploy: the application uses {new} only", "# no migration"),
        PlanStep(f"contract: drop the view {old}", f"op.execute(\"DROP VIEW IF EXISTS {_t(old, schema)}\")"),
    ]


def change_type(table: str, schema: str | None, column: str, new_type_src: str | None,
                new_type_sql: str | None) -> list[PlanStep]:
    """A type change that rewrites the table (int → bigint …) holds ACCESS EXCLUSIVE for the rewrite."""
    tmp = f"{column}_new"
    typ_sql = new_type_sql or "<new SQL type>"
    return [
        PlanStep(f"expand: add {tmp} {typ_sql}, fill it on every write (trigger), backfill in batches",
                 f"op.run_with_lock_timeout(\"ALTER TABLE {_t(table, schema)} ADD COLUMN IF NOT EXISTS {q(tmp)} "
                 f"{typ_sql}\")\n"
                 + _sync_trigger(table, schema, column, tmp, f"{column}_to_{tmp}", f"::{typ_sql}") + "\n"
                 f"op.backfill({_args(table, schema)}, {{{tmp!r}: \"{q(column)}::{typ_sql}\"}})\n"
                 f"op.set_not_null_safely({_args(table, schema)}, {tmp!r})  # if {column} is NOT NULL\n"
                 f"# one op.create_index_concurrently(...) per index on {column}, on {tmp}"),
        PlanStep(f"swap: {tmp} becomes {column} in one short transaction",
                 f"op.run_with_lock_timeout([\n"
                 f"    \"ALTER TABLE {_t(table, schema)} RENAME COLUMN {q(column)} TO {q(column + '_old')}\",\n"
                 f"    \"ALTER TABLE {_t(table, schema)} RENAME COLUMN {q(tmp)} TO {q(column)}\",\n"
                 f"    \"DROP TRIGGER IF EXISTS {table}_{column}_to_{tmp}_sync ON {_t(table, schema)}\",\n"
                 f"    # move the primary key / unique constraints with ADD CONSTRAINT … USING INDEX,\n"
                 f"    # and the column's default / identity sequence (ALTER SEQUENCE … OWNED BY)\n"
                 f"])"),
        PlanStep(f"contract: drop {column}_old once nothing uses it",
                 f"op.run_with_lock_timeout(\"ALTER TABLE {_t(table, schema)} DROP COLUMN IF EXISTS "
                 f"{q(column + '_old')}\")"),
    ]


def drop_column(table: str, schema: str | None, column: str) -> list[PlanStep]:
    """Dropping a column breaks running code that still selects or inserts it."""
    return [
        PlanStep(f"deploy: the application no longer reads or writes {table}.{column} "
                 "(SQLAlchemy: remove it from the model first)", "# no migration"),
        PlanStep(f"contract: drop {column} (indexes on it concurrently first)",
                 f"# op.drop_index_concurrently(\"<index on {column}>\", table_name={table!r})\n"
                 f"op.run_with_lock_timeout(\"ALTER TABLE {_t(table, schema)} DROP COLUMN IF EXISTS {q(column)}\")"),
    ]


def drop_table(table: str, schema: str | None) -> list[PlanStep]:
    """Dropping a table takes ACCESS EXCLUSIVE on it and on every table its foreign keys reference."""
    return [
        PlanStep(f"deploy: nothing uses {table} any more", "# no migration"),
        PlanStep(f"contract: drop {table}'s foreign keys one at a time, then the table",
                 f"# op.run_with_lock_timeout(\"ALTER TABLE {_t(table, schema)} DROP CONSTRAINT IF EXISTS <fk>\")"
                 f"  # one per foreign key\n"
                 f"op.run_with_lock_timeout(\"DROP TABLE IF EXISTS {_t(table, schema)}\")"),
    ]


def add_not_null_column(table: str, schema: str | None, column: str, column_src: str | None) -> list[PlanStep]:
    """A NOT NULL column without a default fails on a non-empty table and breaks old inserts."""
    col = column_src or f"sa.Column({column!r}, <type>)"
    return [
        PlanStep(f"expand: add {column} as nullable, with a default for new rows if there is one",
                 f"op.add_column({_args(table, schema)}, {col})  # without nullable=False"),
        PlanStep(f"deploy: the application writes {column}", "# no migration"),
        PlanStep(f"backfill {column} and make it NOT NULL",
                 f"op.backfill({_args(table, schema)}, {{{column!r}: \"<value>\"}}, where=\"{q(column)} IS NULL\")\n"
                 f"op.set_not_null_safely({_args(table, schema)}, {column!r})"),
    ]


def render_plan(steps: list[PlanStep], *, comment: bool = False) -> str:
    """The plan as text (``comment=True``: every line starts with ``# ``)."""
    lines = []
    for i, step in enumerate(steps, 1):
        lines.append(f"revision {i}: {step.title}")
        lines += ["    " + ln for ln in step.code.splitlines()]
    if comment:
        return "\n".join("# " + ln for ln in lines)
    return "\n".join(lines)
