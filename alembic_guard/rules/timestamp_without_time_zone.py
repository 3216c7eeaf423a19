from ._common import failed
from ._schema import columns, type_key
from .base import PG_DOCS, Rule, register


@register
class TimestampWithoutTimeZone(Rule):
    id = "timestamp-without-time-zone"
    title = "A column of type timestamp without time zone"
    severity = "warning"
    category = "design"
    docs = PG_DOCS + "datatype-datetime.html"
    rationale = (
        "`timestamp without time zone` stores a wall-clock reading with no zone: the same value means "
        "different instants for sessions with different TimeZone settings, and daylight-saving changes make "
        "some readings ambiguous. `timestamptz` stores an instant (UTC internally) and converts on output; "
        "it takes the same 8 bytes. The PostgreSQL wiki's \"Don't Do This\" page says: don't use timestamp "
        "(without time zone) to store instants. In SQLAlchemy: `sa.DateTime(timezone=True)`."
    )
    bad_example = 'op.add_column("orders", sa.Column("shipped_at", sa.DateTime()))'
    good_example = 'op.add_column("orders", sa.Column("shipped_at", sa.DateTime(timezone=True)))'

    def check(self, ctx):
        if failed(ctx):
            return
        for col in columns(ctx.node):
            if type_key(col.type) == "timestamp":
                yield self.finding(
                    ctx, f"{col.table}.{col.name} is `timestamp without time zone`: its values name no instant "
                         f"(they depend on each session's TimeZone); use timestamptz.",
                    table=col.table, detail=f"{col.table}.{col.name}",
                    fix=f"# sa.DateTime(timezone=True), i.e. timestamptz, for {col.table}.{col.name}")
