"""The rewrite steps: one module per Alembic operation (``rewrite(call, facts) -> Outcome | None``).

``registry`` maps operation names to steps and holds ``rewrite_call``; ``_common`` has the helpers
the steps share (reading table names from a call, writing ``op.<name>(...)`` source).
"""
