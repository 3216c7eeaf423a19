"""Memory, time and report size of `alembic-guard check` on one very large revision.

Run:  python benchmarks/big_revision.py [--statements 1000 --statements 5000] [--history 50] [--shadow auto]

For each ``--statements N`` it writes one revision of N DDL statements, a repeating mix of five
(``CREATE TABLE``, ``ALTER TABLE … ADD COLUMN``, ``CREATE INDEX``, ``ALTER TABLE … ADD CONSTRAINT …
CHECK``, ``COMMENT ON COLUMN``), one ``op.execute`` each, all in the one migration transaction, and
runs the whole ``alembic-guard check --format json`` command as a subprocess against a fresh
database of one shadow server. It prints the wall time, the peak RSS of that process
(``os.wait4`` → ``ru_maxrss``, kilobytes on Linux) and the size of the JSON report in bytes. With
``--history M`` it also reports the JSON size of an M-revision history (benchmarks/check_speed.py's
mix). The PostgreSQL server's own memory is not counted. Results are recorded in docs/benchmarks.md
("Tracing cost").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from alembic_guard.shadow import obtain_shadow  # noqa: E402
from check_speed import build as build_history  # noqa: E402
from tests.projects.factory import make_project  # noqa: E402


def statements(n: int) -> list[str]:
    """``n`` DDL statements, five kinds in turn; every fifth creates the table the next four change."""
    out = []
    for i in range(n):
        t = f"big_{i // 5}"
        out.append((
            f"CREATE TABLE {t} (id bigint PRIMARY KEY, name text, created_at timestamptz)",
            f"ALTER TABLE {t} ADD COLUMN amount integer",
            f"CREATE INDEX {t}_name_idx ON {t} (name)",
            f"ALTER TABLE {t} ADD CONSTRAINT {t}_amount_check CHECK (amount >= 0)",
            f"COMMENT ON COLUMN {t}.amount IS 'in cents'",
        )[i % 5])
    return out


def build_big(root: Path, n: int) -> Path:
    body = "\n".join(f"op.execute({s!r})" for s in statements(n))
    return make_project(root, [("big", body)])


def admin_url(server) -> str:
    url = server.sqlalchemy_url(server.admin_db)
    return "postgresql://" + url.split("://", 1)[1]


def run_check(ini: Path, server) -> tuple[float, int, int, dict]:
    """``(seconds, peak RSS kB, JSON bytes, report)`` of one `alembic-guard check` subprocess."""
    import json

    out = ini.parent / "report.json"
    cmd = [sys.executable, "-m", "alembic_guard.cli", "check", "-c", str(ini), "--fail-on", "never",
           "--no-fail-on-unknown", "--format", "json", "--output", str(out),
           "--shadow", "url", "--shadow-url", admin_url(server)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ini.parent)
    stderr = proc.stderr.read() if proc.stderr else b""
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        sys.exit(stderr.decode(errors="replace"))
    return elapsed, usage.ru_maxrss, out.stat().st_size, json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--statements", type=int, action="append")
    ap.add_argument("--history", type=int, default=50, help="revisions of the history (0: skip)")
    ap.add_argument("--shadow", default=None)
    args = ap.parse_args()
    sizes = args.statements or [1000, 5000]
    with obtain_shadow(args.shadow) as server, tempfile.TemporaryDirectory() as tmp:
        print(f"shadow {server.provider} PostgreSQL {server.version}; {os.cpu_count()} cores (shared machine)")
        for n in sizes:
            ini = build_big(Path(tmp) / f"big{n}", n)
            seconds, rss, size, report = run_check(ini, server)
            (rev,) = report["revisions"]
            print(f"1 revision, {len(rev['statements'])} statements: {seconds:.1f} s, peak RSS "
                  f"{rss / 1024:.0f} MB, JSON report {size / 1e6:.2f} MB, verdict {rev['verdict']}", flush=True)
        if args.history:
            ini = build_history(Path(tmp) / "history", args.history)
            seconds, rss, size, report = run_check(ini, server)
            count = sum(len(r["statements"]) for r in report["revisions"])
            print(f"{args.history} revisions, {count} statements: {seconds:.1f} s, peak RSS {rss / 1024:.0f} MB, "
                  f"JSON report {size / 1e6:.3f} MB", flush=True)


if __name__ == "__main__":
    main()
