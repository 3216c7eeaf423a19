"""downgrade-does-not-restore-schema: the revision's downgrade(), run on the shadow after its
upgrade(), fails or leaves a schema different from the one the upgrade started from.

The evidence is ``RevisionTrace.downgrade`` (capture/downgrade.py: upgrade → downgrade on a scratch
database, catalogs compared by schema_compare); the rule only words it. Revisions whose downgrade was
not run (``check-downgrades``) have none and are not judged.
"""

from .base import Rule, register


@register
class DowngradeDoesNotRestoreSchema(Rule):
    id = "downgrade-does-not-restore-schema"
    title = "A downgrade() that fails, or does not bring the schema back"
    severity = "warning"
    category = "design"
    docs = "https://alembic.sqlalchemy.org/en/latest/tutorial.html#downgrading"
    rationale = (
        "`alembic downgrade` is the way back after a bad deploy. alembic-guard runs each checked revision's "
        "upgrade() and then its downgrade() on the shadow and compares the catalogs (tables, columns with type, "
        "NOT NULL and default, constraints, indexes, sequences, views, triggers, functions, policies, enum labels) "
        "with the schema before the upgrade. An index left behind makes the next `alembic upgrade` fail with "
        "\"already exists\"; a column re-added with another type or without its NOT NULL changes what the old "
        "code reads and writes; a downgrade that raises leaves the rollback to be written by hand under pressure. "
        "Column order is not compared: `ADD COLUMN` always appends (PostgreSQL, ALTER TABLE), so a downgrade "
        "cannot put a dropped column back in its place. A downgrade that raises on purpose "
        "(`raise NotImplementedError(\"irreversible: …\")` in downgrade() itself) says so and is not reported."
    )
    bad_example = ('def upgrade():\n'
                   '    op.create_index("ix_orders_created_at", "orders", ["created_at"])\n'
                   '    op.drop_column("orders", "note")  # a text column\n\n\n'
                   'def downgrade():\n'
                   '    op.add_column("orders", sa.Column("note", sa.String(50)))')
    good_example = ('def upgrade():\n'
                    '    op.create_index("ix_orders_created_at", "orders", ["created_at"])\n'
                    '    op.drop_column("orders", "note")  # a text column\n\n\n'
                    'def downgrade():\n'
                    '    op.add_column("orders", sa.Column("note", sa.Text()))\n'
                    '    op.drop_index("ix_orders_created_at", table_name="orders")')
    # the finding sits on ``def downgrade()`` (or the line that raised): a suppression goes there

    def check(self, ctx):
        rev = ctx.revision
        result = rev.downgrade
        if result is None or not rev.statements or ctx.statement is not rev.statements[0]:
            return  # once per revision, on its first statement
        if result.error and not result.irreversible:
            import os

            # the line is the finding's own; another file (a helper module, env.py) is named
            if not result.error_path:
                where = " (in env.py or Alembic, outside the revision file)"
            elif os.path.realpath(result.error_path) != os.path.realpath(rev.path or ""):
                where = f" (in {result.error_path}:{result.error_line})"
            else:
                where = ""
            finding = self.finding(ctx, f"downgrade() fails on the shadow{where}: {result.error}; "
                                        "`alembic downgrade` cannot roll this revision back.",
                                   fix="# make downgrade() run after upgrade(), or raise NotImplementedError "
                                       "saying why it cannot")
            finding.path = rev.path
            finding.line = (result.error_line if not where else None) or result.line or finding.line
            yield finding
        elif result.differences:
            listed = result.differences[:8]
            more = len(result.differences) - len(listed)
            text = "; ".join(listed) + (f"; and {more} more" if more > 0 else "")
            finding = self.finding(ctx, "downgrade() does not restore the schema upgrade() started from: "
                                        f"{text}.",
                                   fix="\n".join(result.fixes) or "# undo every step of upgrade() in downgrade()")
            finding.path = rev.path
            finding.line = result.line or finding.line
            yield finding
