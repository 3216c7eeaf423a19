"""libcst edits keep the comments around a rewritten statement."""

from alembic_guard.rewrite.edit import apply_rewrites
from alembic_guard.rewrite.outcome import Outcome

SOURCE = '''from alembic import op


def upgrade():
    # why we index
    op.create_index("ix", "t", ["a"])  # trailing why
    op.alter_column("t", "a", nullable=False)  # second
    op.execute("x")  # third
'''


def test_trailing_and_leading_comments_survive_a_rewrite():
    out = apply_rewrites(SOURCE, [
        (6, Outcome("k", "w", code="op.create_index_concurrently('ix', 't', ['a'])")),
        (7, Outcome("k", "w", code="op.run_with_lock_timeout('a')\nop.set_not_null_safely('t', 'a')")),
        (8, Outcome("k", "w", code="with op.get_context().autocommit_block():\n    op.execute('y')")),
    ])
    assert "    # why we index\n    op.create_index_concurrently('ix', 't', ['a'])  # trailing why\n" in out
    assert "    op.set_not_null_safely('t', 'a')  # second\n" in out
    assert "    # third\n    with op.get_context().autocommit_block():\n" in out
