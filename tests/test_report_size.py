"""The JSON report grows linearly with the statements: a lock held across statements is recorded
once, with its span, not again for every statement it is held over."""

from __future__ import annotations

import json

from alembic_guard.model import Report
from tests.helpers import run_revisions


def _size(shadow, tmp_path, n: int) -> int:
    from alembic_guard.shadow import scratch_database

    body = "\n".join(f'op.add_column("t{i % 5}", sa.Column("c{i}", sa.Integer()))' for i in range(n))
    setup = "".join(f"CREATE TABLE t{i} (id bigint PRIMARY KEY);" for i in range(5))
    with scratch_database(shadow) as db:
        revs = run_revisions(shadow, db, tmp_path / f"n{n}", [body], setup=setup)
    st = revs[0].statements[-1]
    assert st.to_json()["held_locks"] >= 5  # every table's ACCESS EXCLUSIVE is still held at the end
    report = Report(tool_version="t", shadow_provider="p", server_version="v", server_version_num=0, config="c",
                    revisions=revs)
    return len(json.dumps(report.to_json()))


def test_report_size_is_linear_in_statements(shadow, tmp_path):
    small, large = _size(shadow, tmp_path, 40), _size(shadow, tmp_path, 160)
    assert large / small < 4.6, (small, large)  # 4x the statements: about 4x the bytes, not 16x
