"""The autogenerate hook: ``alembic revision --autogenerate`` writes safe operations.

In env.py::

    from alembic_guard.autogen import process_revision_directives

    context.configure(connection=connection, target_metadata=target_metadata,
                      process_revision_directives=process_revision_directives)

With a hook of your own or an Alembic ``Rewriter``: ``process_revision_directives=chain(mine, guard)``
(``wrap(mine)`` is the same as ``chain(mine, process_revision_directives)``).

For every unsafe operation on a table that already exists in the database autogenerate compared
against (and is not created by a ``CreateTableOp`` of the same revision), the operation is replaced
by a :class:`~alembic_guard.rewrite.autogen_ops.RewrittenOp` that renders as calls of
:mod:`alembic_guard.ops`; what one revision cannot make safe (renames, rewriting type changes,
dropping columns/tables, NOT NULL columns without a default) stays as it is, with a comment and an
expand/contract plan. Then, unless ``verify=False`` (or ``ALEMBIC_GUARD_VERIFY=0``), the original
and the rewritten revision are applied from the current head on two scratch databases of a shadow
PostgreSQL (never the database autogenerate compared against); only when the final catalogs are equal
and no dangerous lock exceeds the budget are the rewrites kept, and the revision gets a header
comment naming the PostgreSQL version. Otherwise the original operations are kept and the reason is
written into the revision and to stderr.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from typing import Any

from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.render import render_op_text
from alembic.operations import ops

from .rewrite.autogen_ops import CommentOp, RefusedOp, RewrittenOp
from .rewrite.calls import Facts, Outcome, call_from_source, calls_volatile, rewrite_call
from .rewrite.proof import LockBudget

Hook = Callable[[Any, Any, list], None]

#: operations that take ACCESS EXCLUSIVE on their table (wrapped with lock_timeout + retry when
#: nothing more specific applies)
_AEL_OPS = (ops.AddColumnOp, ops.AlterColumnOp, ops.DropConstraintOp, ops.DropColumnOp, ops.DropTableOp,
            ops.RenameTableOp, ops.CreateTableCommentOp, ops.DropTableCommentOp)
_DOWNGRADE_KINDS = {"create-index-concurrently", "drop-index-concurrently"}


def _table_of(op: ops.MigrateOperation) -> tuple[str | None, str | None]:
    for attr in ("table_name", "source_table", "old_table_name"):
        name = getattr(op, attr, None)
        if name:
            schema = getattr(op, "schema", None) or getattr(op, "source_schema", None)
            return name, schema
    return None, None


def _qualified(name: str, schema: str | None) -> str:
    return f"{schema}.{name}" if schema and schema != "public" else name


def op_sql(op: ops.MigrateOperation) -> list[str]:
    """The SQL Alembic would run for ``op`` on PostgreSQL (offline rendering, literal binds)."""
    import pglast
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    buf = io.StringIO()
    ctx = MigrationContext.configure(dialect_name="postgresql",
                                     opts={"as_sql": True, "output_buffer": buf, "literal_binds": True})
    try:
        Operations(ctx).invoke(op)
    except Exception:
        return []
    text = buf.getvalue()
    try:
        return [s.strip() for s in pglast.split(text) if s.strip()]
    except Exception:
        return []


class _DbFacts:
    """Catalog questions answered by the database autogenerate compared against (reads only)."""

    def __init__(self, connection: Any):
        self.connection = connection
        self.tables: set[str] = set()
        self.kinds: dict[str, str] = {}
        self.version_num = 0
        if connection is None:
            return
        from sqlalchemy import text

        rows = connection.execute(text(
            "SELECT n.nspname, c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'm') "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema')")).fetchall()
        for schema, name, kind in rows:
            q = _qualified(name, schema)
            self.tables.add(q)
            self.kinds[q] = kind
        self.version_num = int(connection.execute(text("SHOW server_version_num")).scalar())

    def volatile(self, expr: str) -> bool | None:
        if self.connection is None:
            return None
        from sqlalchemy import text

        return calls_volatile(expr, lambda names: bool(self.connection.execute(text(
            "SELECT coalesce(bool_or(provolatile = 'v'), false) FROM pg_proc WHERE proname = ANY(:n)"),
            {"n": names}).scalar()))

    def rewrites_type(self, op: ops.AlterColumnOp) -> bool:
        """True when changing ``existing_type`` → ``modify_type`` rewrites the table (not a
        binary-coercible cast, e.g. int → bigint)."""
        from sqlalchemy import text
        from sqlalchemy.dialects import postgresql

        if op.modify_type is None:
            return False
        if op.existing_type is None or self.connection is None:
            return True
        dialect = postgresql.dialect()
        old, new = op.existing_type.compile(dialect=dialect), op.modify_type.compile(dialect=dialect)
        if old == new:
            return False
        row = self.connection.execute(text(
            "SELECT a.t = b.t, (SELECT castmethod FROM pg_cast WHERE castsource = a.t AND casttarget = b.t) "
            "FROM (SELECT CAST(:o AS regtype)::oid AS t) a, (SELECT CAST(:n AS regtype)::oid AS t) b"),
            {"o": old, "n": new}).fetchone()
        same, method = row
        if same:
            length = getattr(op.modify_type, "length", None)
            old_length = getattr(op.existing_type, "length", None)
            return not (length is None or (old_length is not None and length >= old_length))
        return method != "b"


def _outcome(op: ops.MigrateOperation, autogen: AutogenContext, db: _DbFacts, created: set[str]) -> Outcome | None:
    table, schema = _table_of(op)
    if table is None:
        return None
    qualified = _qualified(table, schema)
    preexisting = qualified in db.tables and qualified not in created
    if not preexisting:
        return None
    call = call_from_source(render_op_text(autogen, op))
    if call is None:
        return None
    statements = op_sql(op)
    facts = Facts(
        preexisting=lambda t: t in db.tables and t not in created,
        relkind=lambda t: db.kinds.get(t),
        statements=statements,
        rewritten={qualified} if isinstance(op, ops.AlterColumnOp) and db.rewrites_type(op) else set(),
        lock_timeout_ms=0,
        server_version_num=db.version_num,
        volatile=db.volatile,
        access_exclusive=isinstance(op, _AEL_OPS),
    )
    if isinstance(op, ops.AddColumnOp):
        facts.rewritten = None  # volatility decides
    return rewrite_call(call, facts)


def _created_tables(container: ops.OpContainer) -> set[str]:
    out = set()
    for op in container.ops:
        if isinstance(op, ops.CreateTableOp):
            out.add(_qualified(op.table_name, op.schema))
    return out


def _rewrite_container(container: ops.OpContainer, autogen: AutogenContext, db: _DbFacts, created: set[str],
                       downgrade: bool, log: list[tuple[ops.MigrateOperation, Outcome]]) -> None:
    for i, op in enumerate(list(container.ops)):
        if isinstance(op, ops.ModifyTableOps):
            _rewrite_container(op, autogen, db, created, downgrade, log)
            continue
        if isinstance(op, (RewrittenOp, RefusedOp, CommentOp)):
            continue
        outcome = _outcome(op, autogen, db, created)
        if outcome is None:
            continue
        if downgrade and (outcome.kind not in _DOWNGRADE_KINDS or not outcome.code):
            continue
        container.ops[i] = RewrittenOp(op, outcome) if outcome.code else RefusedOp(op, outcome)
        log.append((op, outcome))


def _originals(container: ops.OpContainer) -> list[ops.MigrateOperation]:
    """A copy of ``container.ops`` with every RewrittenOp replaced by its original (no mutation)."""
    out: list[ops.MigrateOperation] = []
    for op in container.ops:
        if isinstance(op, ops.ModifyTableOps):
            out.append(ops.ModifyTableOps(op.table_name, _originals(op), schema=op.schema))
        elif isinstance(op, RewrittenOp):
            out.append(op.original)
        elif not isinstance(op, CommentOp):
            out.append(op)
    return out


def _restore(container: ops.OpContainer) -> None:
    for i, op in enumerate(container.ops):
        if isinstance(op, ops.ModifyTableOps):
            _restore(op)
        elif isinstance(op, RewrittenOp):
            container.ops[i] = op.original


def _revision_source(rev_id: str, down: str | tuple | None, upgrade_ops: ops.UpgradeOps) -> str:
    from alembic.autogenerate import render_python_code

    body = render_python_code(upgrade_ops)
    body = "\n".join(("    " + ln if ln.strip() else "") for ln in body.splitlines())
    return (f'"""alembic-guard proof revision"""\nfrom alembic import op\nimport sqlalchemy as sa\n'
            f"from sqlalchemy.dialects import postgresql\nimport alembic_guard.ops  # noqa: F401\n\n"
            f"revision = {rev_id!r}\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
            f"def upgrade():\n{body}\n\n\ndef downgrade():\n    pass\n")


def _verify(context: Any, script: ops.MigrationScript, tables: list[str], budget: LockBudget):
    """Prove the rewritten ``script.upgrade_ops`` against its original on a shadow. Returns a Proof."""
    import alembic.context as alembic_context
    import alembic.op as alembic_op

    from .capture.project import load_project
    from .rewrite.proof import Proof, project_copy, prove
    from .shadow import obtain_shadow

    config = context.config if hasattr(context, "config") else None
    config = config or getattr(context, "opts", {}).get("config")
    if config is None or not config.config_file_name:
        return Proof(error="the Alembic config is unknown, nothing to apply the revision to")
    saved = (getattr(alembic_context, "_proxy", None), getattr(alembic_op, "_proxy", None))
    try:
        project = load_project(str(config.config_file_name), config.config_ini_section)
        heads = project.script.get_heads()
        down = heads[0] if len(heads) == 1 else (tuple(heads) or None)
        rev_id = script.rev_id or "ag_autogen"
        rewritten = _revision_source(rev_id, down, script.upgrade_ops)
        ups = ops.UpgradeOps(ops=_originals(script.upgrade_ops))
        original = _revision_source(rev_id, down, ups)
        with obtain_shadow() as server, project_copy(project, add={f"{rev_id}_original.py": original}) as a, \
                project_copy(project, add={f"{rev_id}_rewritten.py": rewritten}) as b:
            return prove(project, server, rev_id, down if isinstance(down, str) else None, original=a,
                         rewritten=b, tables=tables or None, budget=budget)
    except Exception as exc:  # no shadow, broken project: the rewrite stays unverified
        return Proof(error=f"{type(exc).__name__}: {exc}")
    finally:
        for proxy in saved:
            if proxy is not None:
                proxy._install_proxy()


def rewrite_directives(context: Any, directives: list, *, verify: bool = True,
                       budget: LockBudget = LockBudget()) -> list[tuple[ops.MigrateOperation, Outcome]]:
    """Rewrite the unsafe operations of each ``MigrationScript`` in ``directives`` in place (see the
    module doc). Returns (original operation, outcome) pairs. Never raises for a failed proof: the
    originals are kept and the reason is written into the revision."""
    connection = getattr(context, "connection", None) if context is not None else None
    if connection is None:
        return []  # offline (--sql) autogenerate: nothing is known to exist, nothing is rewritten
    db = _DbFacts(connection)
    done: list[tuple[ops.MigrateOperation, Outcome]] = []
    for script in directives:
        if not isinstance(script, ops.MigrationScript):
            continue
        autogen = AutogenContext(context, opts=dict(getattr(context, "opts", {}) or {}))
        for up, down in zip(script.upgrade_ops_list, script.downgrade_ops_list, strict=False):
            created = _created_tables(up)
            log: list[tuple[ops.MigrateOperation, Outcome]] = []
            _rewrite_container(up, autogen, db, created, False, log)
            _rewrite_container(down, autogen, db, created | _created_tables(down), True, [])
            done += log
            rewrites = [o for _, o in log if o.code]
            if not rewrites:
                _report(log, None)
                continue
            header = f"alembic-guard: rewritten ({', '.join(sorted({o.kind for o in rewrites}))})"
            if verify and os.environ.get("ALEMBIC_GUARD_VERIFY", "1") != "0" and connection is not None:
                tables = sorted({_qualified(*_table_of(op)) for op, o in log if o.code and _table_of(op)[0]})
                proof = _verify(context, script, tables, budget)
                if proof.accepted:
                    lines = [f"{header}; verified on PostgreSQL {proof.server_version}: same final schema as the",
                             "alembic-guard: original operations, no SHARE-or-stronger lock on an existing table "
                             "beyond "
                             f"{budget.max_held_ms:g} ms or during a scan/rewrite."]
                else:
                    _restore(up)
                    _restore(down)
                    lines = ["alembic-guard: rewrites rejected, the original operations are kept:"] + \
                            [f"alembic-guard:   {r}" for r in proof.reasons()[:5]]
                _report(log, proof)
            else:
                lines = [f"{header}; not verified on a shadow (verify=False)."]
                _report(log, None)
            up.ops.insert(0, CommentOp(lines))
    return done


def _report(log: list[tuple[ops.MigrateOperation, Outcome]], proof) -> None:
    from .rewrite.plans import render_plan

    for _op, outcome in log:
        if outcome.code:
            sys.stderr.write(f"  alembic-guard: {outcome.what}\n")
        else:
            sys.stderr.write(f"  alembic-guard: NOT rewritten ({outcome.what}): {outcome.refused}\n")
            if outcome.plan:
                sys.stderr.write("    expand/contract plan:\n" +
                                 "".join(f"      {ln}\n" for ln in render_plan(outcome.plan).splitlines()))
    if proof is not None:
        sys.stderr.write(f"  alembic-guard: verification on PostgreSQL {proof.server_version}: "
                         + ("accepted" if proof.accepted else "; ".join(proof.reasons())) + "\n")
        for line in proof.locks_before:
            sys.stderr.write(f"    lock before: {line}\n")
        for line in proof.locks_after:
            sys.stderr.write(f"    lock after:  {line}\n")


def make_hook(*, verify: bool = True, budget: LockBudget = LockBudget()) -> Hook:
    """A ``process_revision_directives`` hook with its own options (``verify``: prove on a shadow;
    ``budget``: lock budget for the proof)."""

    def hook(context: Any, revision: Any, directives: list) -> None:
        rewrite_directives(context, directives, verify=verify, budget=budget)

    return hook


def process_revision_directives(context: Any, revision: Any, directives: list) -> None:
    """The hook for ``context.configure(process_revision_directives=...)`` (verify on a shadow,
    default lock budget). Modifies ``directives`` in place; raises nothing for unsafe operations."""
    rewrite_directives(context, directives)


def chain(*hooks: Hook | None) -> Hook:
    """One hook that calls ``hooks`` in order with the same arguments (None entries are skipped;
    an Alembic ``Rewriter`` is a hook). Put alembic_guard last so it sees the final operations."""
    active = [h for h in hooks if h is not None]

    def chained(context: Any, revision: Any, directives: list) -> None:
        for hook in active:
            hook(context, revision, directives)

    return chained


def wrap(existing: Hook | None) -> Hook:
    """``chain(existing, process_revision_directives)``."""
    return chain(existing, process_revision_directives)
