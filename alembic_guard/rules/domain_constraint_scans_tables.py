from pglast import ast

from ._common import failed, sql_text, table_lock
from .base import PG_DOCS, Rule, register
from .render import LOCK_TIMEOUT, autocommit_block, execute, lines, q


def domain_fix(domain: str, name: str, expr: str) -> str:
    return lines(
        LOCK_TIMEOUT,
        "# NOT VALID: enforced for new values at once, existing rows are not checked (no scan, no table lock)",
        execute(f"ALTER DOMAIN {q(domain)} ADD CONSTRAINT {q(name)} CHECK ({expr}) NOT VALID"),
        "# later, in its own transaction, when write traffic is low: VALIDATE still takes SHARE on every",
        "# table with a column of the domain for the scan (PostgreSQL <= 18)",
        autocommit_block(
            "op.execute(\"SET lock_timeout = '2s'\")",
            execute(f"ALTER DOMAIN {q(domain)} VALIDATE CONSTRAINT {q(name)}")))


@register
class DomainConstraintScansTables(Rule):
    id = "domain-constraint-scans-tables"
    title = "ALTER DOMAIN … ADD/VALIDATE CONSTRAINT scans every table using the domain"
    severity = "error"
    docs = PG_DOCS + "sql-alterdomain.html"
    rationale = (
        "ALTER DOMAIN … ADD CONSTRAINT checks every existing value of the domain: it takes SHARE on every "
        "table that has a column of that domain and scans each of them, so INSERT, UPDATE and DELETE on "
        "all of those tables wait for the scans (and, in the migration transaction, until COMMIT). "
        "ADD CONSTRAINT … NOT VALID only records the constraint (new values are checked at once) and "
        "touches no table. ALTER DOMAIN … VALIDATE CONSTRAINT then checks the existing rows, but unlike "
        "ALTER TABLE … VALIDATE CONSTRAINT it still takes SHARE on those tables up to PostgreSQL 18: run it "
        "in its own transaction (outside the migration's, with lock_timeout) when write traffic is low."
    )
    bad_example = 'op.execute("ALTER DOMAIN price ADD CONSTRAINT price_positive CHECK (VALUE > 0)")'
    good_example = domain_fix("price", "price_positive", "VALUE > 0")

    def check(self, ctx):
        node = ctx.node
        if failed(ctx) or not isinstance(node, ast.AlterDomainStmt) or node.subtype not in ("C", "V"):
            return
        tables = [t for t in ctx.obs.seq_scans if ctx.preexisting(t) and ctx.locks_on(t)]
        if not tables:
            return
        domain = ".".join(n.sval for n in node.typeName)
        if domain.startswith("public."):
            domain = domain[len("public."):]
        locks = ", ".join(f"{table_lock(ctx, t)} on {t}" for t in tables)
        if node.subtype == "C":
            con = node.def_
            if not isinstance(con, ast.Constraint) or con.skip_validation:
                return
            name = con.conname or f"{domain.split('.')[-1]}_check"
            expr = sql_text(con.raw_expr) if con.raw_expr is not None else "VALUE IS NOT NULL"
            yield self.finding(
                ctx, f"ALTER DOMAIN {domain} ADD CONSTRAINT {name} checks every column of that domain in place: "
                     f"the trace shows a full scan of {', '.join(tables)} under {locks}; writes to "
                     f"{'them' if len(tables) > 1 else 'it'} wait for the scan"
                     f"{' and until COMMIT' if ctx.statement.in_transaction else ''}.",
                table=tables[0], fix=domain_fix(domain, name, expr))
            return
        # PostgreSQL up to 18 has no lock-free VALIDATE for a domain: the trace shows SHARE on every
        # table using it while they are scanned, so it is an error wherever it runs (schedule it when
        # write traffic is low and suppress with the reason).
        name = node.name
        where_ = ("runs in the migration transaction" if ctx.statement.in_transaction
                  else "runs in its own transaction")
        held = ", held until COMMIT" if ctx.statement.in_transaction else ""
        yield self.finding(
            ctx, f"ALTER DOMAIN {domain} VALIDATE CONSTRAINT {name} {where_}: the trace shows a full scan of "
                 f"{', '.join(tables)} under {locks}{held}; writes wait for the scan. PostgreSQL has no "
                 "lock-free form of it before 19.",
            table=tables[0], relations=tables,
            fix=lines("# in its own transaction, when write traffic is low (still SHARE for the scan):",
                      autocommit_block("op.execute(\"SET lock_timeout = '2s'\")",
                                       execute(f"ALTER DOMAIN {q(domain)} VALIDATE CONSTRAINT {q(name)}")),
                      "# alembic-guard: ignore[domain-constraint-scans-tables] <when and why it is safe>"))
