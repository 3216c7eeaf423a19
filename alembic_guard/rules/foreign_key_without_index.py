from ..sql.parse import parse_all
from ._common import failed
from ._schema import catalog_index_prefixes, covered, foreign_keys, index_prefixes
from .base import PG_DOCS, Rule, register


@register
class ForeignKeyWithoutIndex(Rule):
    id = "foreign-key-without-index"
    title = "A foreign key whose referencing columns have no index"
    severity = "warning"
    category = "design"
    docs = PG_DOCS + "ddl-constraints.html#DDL-CONSTRAINTS-FK"
    rationale = (
        "PostgreSQL indexes the referenced side of a foreign key (it must be a primary key or unique) but not "
        "the referencing columns. Every DELETE of a referenced row and every UPDATE of its key then scans "
        "the referencing table to check (or cascade to) its rows, and joins on the key have no index. The docs "
        "(\"Foreign Keys\"): \"it is often a good idea to index the referencing columns too\". An index "
        "whose leading columns are the foreign key's serves both."
    )
    bad_example = ('op.create_foreign_key("fk_orders_customer", "orders", "customers", ["customer_id"], ["id"],\n'
                   '                      postgresql_not_valid=True)')
    good_example = ('with op.get_context().autocommit_block():\n'
                    '    op.create_index("ix_orders_customer_id", "orders", ["customer_id"], '
                    'postgresql_concurrently=True)\n'
                    'op.create_foreign_key("fk_orders_customer", "orders", "customers", ["customer_id"], ["id"],\n'
                    '                      postgresql_not_valid=True)')

    def check(self, ctx):
        if failed(ctx):
            return
        fks = [fk for fk in foreign_keys(ctx.node) if fk.columns]
        if not fks:
            return
        # indexes anywhere in the revision (before or after this statement), and those the table had
        created: dict[str, list[tuple[str, ...]]] = {}
        for st in ctx.revision.statements:
            for node in parse_all(st.sql) or ():
                for table, cols in index_prefixes(node):
                    created.setdefault(table, []).append(cols)
        for fk in fks:
            facts = ctx.table(fk.table)
            prefixes = created.get(fk.table, []) + list(catalog_index_prefixes(facts.indexes.values() if facts else ()))
            if covered(fk.columns, prefixes):
                continue
            cols = list(fk.columns)
            name = f"ix_{fk.table.split('.')[-1]}_{'_'.join(cols)}"[:63]
            yield self.finding(
                ctx, f"foreign key {fk.name or ''} {fk.table}({', '.join(cols)}) → {fk.references} has no index on "
                     f"{', '.join(cols)}: each DELETE or key UPDATE on {fk.references} scans {fk.table}.",
                table=fk.table, detail=f"{fk.table}({', '.join(cols)})",
                fix=self._index_fix(ctx, fk.table, name, cols))

    @staticmethod
    def _index_fix(ctx, table: str, name: str, cols: list[str]) -> str:
        """A new table: a plain index in the same revision; an existing one: the create-index recipe."""
        from .render import table_args

        if not ctx.preexisting(table):
            return f"op.create_index({name!r}, {table_args(table)}, {cols!r})"
        from ..recipes import recipe
        from ..recipes.create_index import fresh
        from .render import q

        node = fresh(f"CREATE INDEX {q(name)} ON {q(table)} ({', '.join(q(c) for c in cols)})")
        hint = recipe("create-index").hint(node, ctx.facts())
        return hint.text() if hint else ""
