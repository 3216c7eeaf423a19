from ._common import failed
from ._schema import columns, type_key
from .base import PG_DOCS, Rule, register


@register
class JsonInsteadOfJsonb(Rule):
    id = "json-instead-of-jsonb"
    title = "A column of type json instead of jsonb"
    severity = "warning"
    category = "design"
    docs = PG_DOCS + "datatype-json.html"
    rationale = (
        "`json` keeps the input text as written and reparses it on every access; it cannot be indexed with "
        "GIN, has no equality operator (so no DISTINCT, GROUP BY or UNIQUE on it) and keeps duplicate keys. "
        "`jsonb` is stored decomposed, supports containment and path operators with GIN indexes, and is what "
        "the PostgreSQL docs recommend \"unless there are quite specialized needs, such as legacy assumptions "
        "about ordering of object keys\". In SQLAlchemy: `sa.dialects.postgresql.JSONB()`."
    )
    bad_example = 'op.add_column("events", sa.Column("payload", sa.JSON()))'
    good_example = ('from sqlalchemy.dialects import postgresql\n'
                    'op.add_column("events", sa.Column("payload", postgresql.JSONB()))')

    def check(self, ctx):
        if failed(ctx):
            return
        for col in columns(ctx.node):
            if type_key(col.type) == "json":
                yield self.finding(
                    ctx, f"{col.table}.{col.name} is `json`: no GIN index, no equality, reparsed on every read; "
                         f"use jsonb unless the exact input text must be kept.",
                    table=col.table, detail=f"{col.table}.{col.name}",
                    fix=f"# sa.dialects.postgresql.JSONB() for {col.table}.{col.name}")
