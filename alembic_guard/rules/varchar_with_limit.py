from ._common import failed
from ._schema import columns, type_key
from .base import PG_DOCS, Rule, register


@register
class VarcharWithLimit(Rule):
    id = "varchar-with-limit"
    title = "A varchar(n) column (a length limit that is often a guess)"
    severity = "info"
    category = "design"
    docs = PG_DOCS + "datatype-character.html"
    rationale = (
        "In PostgreSQL `varchar(n)` is stored exactly like `text`; the limit only adds a check, and a limit "
        "that was a guess is later raised (cheap) or lowered (a full scan under ACCESS EXCLUSIVE). Where the "
        "limit is a business rule, `text` with a named CHECK (char_length(col) <= n) says so and can be "
        "changed with NOT VALID + VALIDATE without blocking; where it is not, use `text`. The PostgreSQL "
        "wiki's \"Don't Do This\" page: don't use varchar(n) by default."
    )
    bad_example = 'op.add_column("users", sa.Column("nickname", sa.String(50)))'
    good_example = ('op.add_column("users", sa.Column("nickname", sa.Text()))\n'
                    'op.create_check_constraint("ck_users_nickname_length", "users", "char_length(nickname) <= 50")')

    def check(self, ctx):
        if failed(ctx):
            return
        for col in columns(ctx.node):
            if type_key(col.type) in ("varchar", "bpchar") and col.type.typmods:
                n = getattr(getattr(col.type.typmods[0], "val", None), "ival", None)
                yield self.finding(
                    ctx, f"{col.table}.{col.name} is limited to {n} characters: if the limit is not a business "
                         f"rule, use text; if it is, a named CHECK can be changed later without a scan under "
                         f"ACCESS EXCLUSIVE.",
                    table=col.table, detail=f"{col.table}.{col.name}",
                    fix=(f"# text, plus where the limit is a rule:\n"
                         f"# op.create_check_constraint(\"ck_{col.table.split('.')[-1]}_{col.name}_length\", "
                         f"{col.table!r}, \"char_length({col.name}) <= {n}\")"))
