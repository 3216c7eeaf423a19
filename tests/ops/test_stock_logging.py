"""The operations' progress, summaries and retries reach the user under the stock logging of
``alembic init`` (root WARNING, ``alembic`` INFO, one console handler): ``alembic upgrade`` run as
a subprocess in a project made by ``alembic init``, its alembic.ini untouched but for the URL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

REVISION = '''\
"""stock logging"""
from alembic import op
import alembic_guard.ops  # noqa: F401

revision = "r1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    op.execute("INSERT INTO t SELECT g, NULL FROM generate_series(1, 3000) g")
    op.run_with_lock_timeout("ALTER TABLE locked ADD COLUMN c int", lock_timeout_ms=100)
    op.backfill("t", set={"v": "id"})
    op.create_index_concurrently("ix_t_v", "t", ["v"])


def downgrade():
    pass
'''


def alembic(root: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "alembic", *args], cwd=root, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_progress_summaries_and_retries_show_under_the_stock_alembic_ini(tmp_path, db_url, conn):
    root = tmp_path / "proj"
    root.mkdir()
    init = alembic(root, "init", "migrations")
    assert init.wait(60) == 0, init.stdout.read()
    ini = root / "alembic.ini"
    text = ini.read_text()
    assert "[logger_alembic]\nlevel = INFO" in text  # the stock template's logging section
    ini.write_text(text.replace("driver://user:pass@localhost/dbname", db_url.replace("%", "%%")))
    (root / "migrations" / "versions" / "r1_stock_logging.py").write_text(REVISION)

    conn.execute("CREATE TABLE locked (id int)")
    lines = []
    with conn.transaction():
        conn.execute("LOCK TABLE locked IN ACCESS EXCLUSIVE MODE")  # the first attempt times out
        upgrade = alembic(root, "upgrade", "head")
        for line in upgrade.stdout:  # until the retry is reported (or the process ends)
            lines.append(line)
            if "retrying in" in line:
                break
    rest, _ = upgrade.communicate(timeout=120)
    out = "".join(lines) + rest
    assert upgrade.returncode == 0, out
    assert "Running upgrade  -> r1" in out  # Alembic's own INFO line, for comparison
    assert "attempt 1/10 failed" in out and "retrying in" in out
    assert "backfill public.t (v): about 3,000 rows; batches sized to 30 ms" in out
    assert "backfill public.t (v): done, 3,000 rows updated, 3,000 scanned in" in out
    assert "create index public.ix_t_v concurrently: built in" in out
    assert "max_parallel_maintenance_workers = 0" in out
