from ..sql import alter_commands, range_name, subtype
from ..sql.parse import parse_one
from ._common import failed, table_commands
from .base import PG_DOCS, Rule, register
from .render import LOCK_TIMEOUT, constraint_name, execute, lines, q

IDENTITY = {"d": "DEFAULT", "n": "NOTHING", "f": "FULL", "i": "USING INDEX"}


def _index_dropped(ctx, table: str, name: str) -> bool:
    """The trace shows this statement taking ACCESS EXCLUSIVE on an index called ``name`` in the table's
    schema: the dropped constraint was backed by an index (PRIMARY KEY, UNIQUE or EXCLUDE, whose index
    PostgreSQL names after the constraint), not a CHECK or FOREIGN KEY."""
    schema = table.rsplit(".", 1)[0] + "." if "." in table else ""
    return any(lk.relation == schema + name and lk.kind in ("i", "I") and lk.mode == "ACCESS EXCLUSIVE"
               for lk in ctx.obs.new_locks)


def _identity_set_before(ctx, table: str) -> set[str] | None:
    """Index names (or ``{"FULL"}``) an earlier statement of this revision made the replica identity
    of ``table``; None when none did."""
    out = None
    for st in ctx.previous:
        node = parse_one(st.sql)
        if st.observation.error or range_name(getattr(node, "relation", None)) != table:
            continue
        for cmd in alter_commands(node):
            if subtype(cmd) == "AT_ReplicaIdentity" and cmd.def_.identity_type in ("i", "f"):
                out = {cmd.def_.name if cmd.def_.identity_type == "i" else "FULL"}
    return out


@register
class PublicationIdentityChanged(Rule):
    id = "publication-identity-changed"
    title = "Primary key or replica identity of a published table changed"
    severity = "error"
    docs = PG_DOCS + "logical-replication-publication.html"
    rationale = (
        "A table in a publication that publishes UPDATE and DELETE (the default) needs a replica identity: "
        "by default its primary key (REPLICA IDENTITY DEFAULT), or a unique index named with REPLICA "
        "IDENTITY USING INDEX, or FULL. Without one PostgreSQL rejects every UPDATE and DELETE on the "
        "table on the publisher: 'cannot update table … because it does not have a replica identity and "
        "publishes updates'. Dropping the primary key (or the column it is on) or setting REPLICA "
        "IDENTITY NOTHING therefore breaks the application's writes at once; FULL works but logs the whole "
        "old row for every change and makes the subscriber look rows up by all columns. Set the new "
        "identity first (REPLICA IDENTITY USING INDEX on a unique index over NOT NULL columns, or add the "
        "new primary key), then drop the old key; coordinate with the subscribers, whose tables must "
        "have a matching key."
    )
    bad_example = 'op.drop_constraint("orders_pkey", "orders", type_="primary")'
    good_example = lines(
        LOCK_TIMEOUT,
        "# first give the table another identity (a unique index over NOT NULL columns), then drop the key",
        'op.execute("ALTER TABLE orders REPLICA IDENTITY USING INDEX orders_uuid_key")  '
        '# alembic-guard: ignore[publication-identity-changed] orders_uuid_key is on the subscribers too',
        'op.drop_constraint("orders_pkey", "orders", type_="primary")')

    def check(self, ctx):
        if failed(ctx):
            return
        for table, cmd in table_commands(ctx, "AT_DropConstraint", "AT_DropColumn", "AT_ReplicaIdentity"):
            if table not in ctx.revision.published or not ctx.preexisting(table):
                continue
            keys = ctx.revision.unique_keys.get(table, [])
            kind = cmd.subtype.name
            if kind == "AT_ReplicaIdentity":
                yield from self._identity(ctx, table, cmd.def_, keys)
                continue
            other = _identity_set_before(ctx, table)
            if other is not None and cmd.name not in other:
                continue  # the revision gave the table another identity first
            if kind == "AT_DropConstraint":
                if not _index_dropped(ctx, table, cmd.name):
                    continue
                what = f"DROP CONSTRAINT {cmd.name}"
            else:
                if not any(cmd.name in key for key in keys[:1]):
                    continue
                what = f"DROP COLUMN {cmd.name} (part of the key {', '.join(keys[0])})"
            if len(keys) > 1 and kind == "AT_DropConstraint":
                # Several unique keys: the index-backed constraint may be one that is not the identity.
                yield self.finding(
                    ctx, f"{what} on {table}, which publication replicates: if {cmd.name} is its primary key "
                         f"(or its REPLICA IDENTITY index), every UPDATE and DELETE on {table} fails on the "
                         f"publisher from now on (\"cannot update table ... because it does not have a replica "
                         f"identity and publishes updates\").", table=table, severity="warning",
                    fix=_fix(table))
                continue
            yield self.finding(
                ctx, f"{what} drops the only unique key of {table}, which a publication replicates: with no "
                     f"replica identity every UPDATE and DELETE on {table} fails on the publisher (\"cannot "
                     f"update table ... because it does not have a replica identity and publishes updates\").",
                table=table, fix=_fix(table))

    def _identity(self, ctx, table, stmt, keys):
        ident = IDENTITY.get(stmt.identity_type, stmt.identity_type)
        if ident == "NOTHING" or (ident == "DEFAULT" and not keys):
            why = "NOTHING" if ident == "NOTHING" else "DEFAULT (its primary key) while it has none"
            yield self.finding(
                ctx, f"REPLICA IDENTITY {why} on {table}, which a publication replicates: every UPDATE and "
                     f"DELETE on {table} fails on the publisher (\"cannot update table ... because it does not "
                     f"have a replica identity and publishes updates\").", table=table, fix=_fix(table))
            return
        detail = {"FULL": "every UPDATE/DELETE now logs the whole old row (more WAL) and the subscriber finds "
                          "the row by comparing all columns (a scan per row without a suitable index)",
                  "USING INDEX": f"the subscribers now match rows by {stmt.name}: their tables need the same "
                                 f"unique key, and dropping {stmt.name} later breaks UPDATE/DELETE",
                  "DEFAULT": "the subscribers now match rows by the primary key again"}[ident]
        yield self.finding(
            ctx, f"REPLICA IDENTITY {ident}{' ' + stmt.name if stmt.name else ''} on {table}, which a publication "
                 f"replicates: {detail}; coordinate with the subscribers.", table=table, severity="warning",
            fix=_fix(table))


def _fix(table: str) -> str:
    index = constraint_name(table, suffix="identity_key")
    return lines(
        "# give the table a replica identity before dropping its key: a unique index over NOT NULL columns,",
        f"# built concurrently (op.create_index_concurrently({index!r}, {table!r}, [...], unique=True)), then:",
        LOCK_TIMEOUT,
        execute(f"ALTER TABLE {q(table)} REPLICA IDENTITY USING INDEX {q(index)}"),
        "# or add the new primary key first; the subscribers' tables need the same key",
        f"# (check: SELECT pubname FROM pg_publication_tables WHERE tablename = '{table.split('.')[-1]}')")
