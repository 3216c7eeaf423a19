from ..sql import alter_commands, range_name, subtype
from ..sql.parse import parse_one
from ._common import failed, table_commands
from .base import PG_DOCS, Rule, register
from .render import LOCK_TIMEOUT, execute, lines, q

DISABLE = {"AT_DisableTrig": "named", "AT_DisableTrigAll": "ALL", "AT_DisableTrigUser": "USER"}
NAMED_ENABLE = ("AT_EnableTrig", "AT_EnableAlwaysTrig")  # ENABLE REPLICA fires only on a replica
ENABLE_ALL = {"named": ("AT_EnableTrigAll", "AT_EnableTrigUser"), "USER": ("AT_EnableTrigAll", "AT_EnableTrigUser"),
              "ALL": ("AT_EnableTrigAll",)}


def _re_enabled(ctx, table: str, kind: str, name: str | None):
    """The later statement of this revision that enables the trigger(s) again, or None."""
    for st in ctx.revision.statements[ctx.statement.index + 1:]:
        node = parse_one(st.sql)
        if node is None or st.observation.error or range_name(getattr(node, "relation", None)) != table:
            continue
        for cmd in alter_commands(node):
            sub = subtype(cmd)
            if sub in ENABLE_ALL[kind] or (kind == "named" and sub in NAMED_ENABLE and cmd.name == name):
                return st
    return None


@register
class DisableTrigger(Rule):
    id = "disable-trigger"
    title = "ALTER TABLE … DISABLE TRIGGER"
    severity = "warning"
    docs = PG_DOCS + "sql-altertable.html#SQL-ALTERTABLE-DESC-DISABLE-ENABLE-TRIGGER"
    rationale = (
        "DISABLE TRIGGER takes SHARE ROW EXCLUSIVE on the table (writes wait) and switches the trigger "
        "off for every session once committed: whatever it maintains (audit rows, denormalized "
        "counters, updated_at, search vectors) silently stops for every write until someone enables it "
        "again, and rows written meanwhile are never processed. DISABLE TRIGGER ALL also disables the "
        "internal triggers that enforce foreign keys (on the referencing and on the referenced table): "
        "while they are off, rows that violate the foreign keys are accepted, and nothing re-checks them "
        "when the triggers are enabled again. If a backfill must skip a trigger, disable only that "
        "trigger (or USER triggers) and enable it again in the same transaction (other sessions wait "
        "on the lock meanwhile, so only the migration's own statements skip it; not reported), or have "
        "the trigger function skip when a setting the migration sets with SET LOCAL is on."
    )
    bad_example = 'op.execute("ALTER TABLE orders DISABLE TRIGGER ALL")'
    good_example = lines(
        LOCK_TIMEOUT,
        "# only the trigger the backfill must skip, enabled again before the transaction commits",
        'op.execute("ALTER TABLE orders DISABLE TRIGGER orders_audit")',
        "op.execute(\"UPDATE orders SET status = 'new' WHERE id = 1\")",
        'op.execute("ALTER TABLE orders ENABLE TRIGGER orders_audit")')

    def check(self, ctx):
        if failed(ctx):
            return
        for table, cmd in table_commands(ctx, *DISABLE):
            if not ctx.preexisting(table):
                continue
            kind = DISABLE[subtype(cmd)]
            what = f"trigger {cmd.name}" if kind == "named" else f"{kind} triggers"
            back = _re_enabled(ctx, table, kind, cmd.name)
            contained = back is not None and back.in_transaction and ctx.statement.in_transaction
            if contained:
                window = (f"it is enabled again at line {back.line} in the same transaction, but the "
                          f"statements in between write unchecked rows")
            elif back is not None:
                window = "it is enabled again only in a later transaction: other sessions' writes in between skip it"
            else:
                window = "the revision never enables it again: it stays off in production"
            enable = execute(f"ALTER TABLE {q(table)} ENABLE TRIGGER {q(cmd.name) if kind == 'named' else kind}")
            if kind == "ALL":
                yield self.finding(
                    ctx, f"DISABLE TRIGGER ALL on {table} also disables the internal triggers that enforce its "
                         f"foreign keys (referencing and referenced): while they are off, rows violating them "
                         f"are accepted and never re-checked; {window}.", table=table, severity="error",
                    fix=lines("# disable only the user triggers (foreign keys stay enforced), and enable them",
                              "# again before the transaction commits:",
                              LOCK_TIMEOUT,
                              execute(f"ALTER TABLE {q(table)} DISABLE TRIGGER USER"),
                              "# … the statements that must skip them …",
                              execute(f"ALTER TABLE {q(table)} ENABLE TRIGGER USER")))
                continue
            if contained:
                continue  # a deliberate skip for the migration's own statements (others wait on the lock)
            yield self.finding(
                ctx, f"DISABLE TRIGGER {cmd.name if kind == 'named' else 'USER'} on {table} takes SHARE ROW "
                     f"EXCLUSIVE and switches off the {what}: whatever {'it does' if kind == 'named' else 'they do'} "
                     f"silently stops for the writes made while disabled; {window}.", table=table,
                fix=lines("# enable it again in the same transaction, right after the statements that must skip it:",
                          enable,
                          "# or keep it enabled and let its function skip when the migration sets a flag:",
                          "#   IF current_setting('app.migrating', true) = 'on' THEN RETURN NEW; END IF;",
                          "op.execute(\"SET LOCAL app.migrating = 'on'\")"))
