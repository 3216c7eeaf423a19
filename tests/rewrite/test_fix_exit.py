"""``alembic-guard fix``'s exit status and its "still unsafe" section, through the CLI on a real project
traced on the real shadow: 0 only when every unsafe revision was fully rewritten and proven; 1 when a
finding's line was not rewritten and accepted (a refusal, a rewrite the proof rejected, no rewrite
known), naming the rule, the line and why; 2 for bad input."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from alembic_guard.cli import main
from tests.projects.factory import Revision, make_project

SETUP = '''\
op.execute("""
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, name text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id bigint NOT NULL, note text);
""")'''

REVISIONS = {
    "fixable": 'op.create_index("ix_orders_customer_id", "orders", ["customer_id"])',
    "refused": 'op.alter_column("customers", "name", new_column_name="full_name")',
    # the LOCK TABLE has no rewrite; the index after it has one
    "partly": 'op.execute("LOCK TABLE orders")\n'
              'op.create_index("ix_orders_note", "orders", ["note"])',
    # with a 0 ms budget the lock_timeout rewrite of the ADD COLUMN still holds ACCESS EXCLUSIVE too long
    "budget": 'op.add_column("customers", sa.Column("nickname", sa.Text()))\n'
              'op.create_index("ix_customers_email", "customers", ["email"])',
}


@pytest.fixture(scope="module")
def ini(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("fixexit"),
                        [Revision(name, body) for name, body in [("setup", SETUP), *REVISIONS.items()]],
                        env="ini_no_logging", url="postgresql+psycopg://nobody@invalid.invalid/x")
    return str(root)


@pytest.fixture(scope="module")
def url(shadow):
    auth = f"{shadow.user}:{shadow.password}" if shadow.password else shadow.user
    return f"postgresql://{auth}@/{shadow.admin_db}?host={shadow.host}&port={shadow.port}"


def fix(ini, url, *args):
    result = CliRunner().invoke(main, ["fix", *args, "-c", ini, "--shadow-url", url])
    return result.exit_code, result.output


def still_unsafe(output: str) -> list[str]:
    """The items of the "still unsafe" sections."""
    return re.findall(r"^    - (.*)$", output.split("still unsafe:", 1)[1], re.M) if "still unsafe:" in output else []


def line_of(ini: str, revision: str, text: str) -> int:
    from pathlib import Path

    source = (Path(ini).parent / "migrations" / "versions" / f"{revision}.py").read_text()
    return next(i for i, ln in enumerate(source.splitlines(), 1) if text in ln)


def test_fully_rewritten_and_proven_exits_0(ini, url):
    code, out = fix(ini, url, "fixable")
    assert code == 0, out
    assert "still unsafe:" not in out and "0 still unsafe" in out


def test_refusal_exits_1_and_says_why(ini, url):
    code, out = fix(ini, url, "refused")
    assert code == 1, out
    [item] = still_unsafe(out)
    assert item.startswith(f"rename-column line {line_of(ini, 'refused', 'alter_column')}: refused: "), out


def test_finding_without_rewrite_exits_1(ini, url):
    code, out = fix(ini, url, "partly")
    assert code == 1, out
    assert out.startswith("alembic-guard fix") and "PARTLY REWRITTEN" in out, out
    items = still_unsafe(out)
    lock_line = line_of(ini, "partly", "LOCK TABLE")
    assert any(i.startswith(f"lock-table line {lock_line}: no rewrite") for i in items), out
    index_line = line_of(ini, "partly", "create_index")
    assert not any(f"line {index_line}:" in i for i in items), out  # that one was rewritten and proven


def test_rewrite_rejected_by_the_proof_exits_1(ini, url):
    code, out = fix(ini, url, "budget", "--lock-budget-ms", "0")
    assert code == 1, out
    items = still_unsafe(out)
    line = line_of(ini, "budget", "add_column")
    assert any(f"line {line}: the proof rejected the rewrite: " in i and "budget 0 ms" in i for i in items), out


def test_markdown_has_the_section(ini, url):
    code, out = fix(ini, url, "refused", "--format", "markdown")
    assert code == 1 and "**Still unsafe:**" in out and "- rename-column line" in out, out


def test_bad_input_exits_2(ini, url):
    code, out = fix(ini, url, "no_such_revision")
    assert code == 2 and "unknown revision" in out, out
