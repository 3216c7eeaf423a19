"""How long `alembic-guard check` takes on a 30-revision project once the shadow cache is warm.

Run:  python benchmarks/check_speed.py [--revisions 30] [--repeat 5] [--shadow cluster]

It writes a realistic project (tables, indexes, columns, constraints, data fixes; a mix of safe and
unsafe steps) into a temp dir, runs `alembic-guard check` once to warm the cache, then times
`--repeat` runs of the whole command (process start to exit) and prints min / median / max seconds.
Results are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.projects.factory import make_project  # noqa: E402

STEPS = [
    'op.create_table("t{n}", sa.Column("id", sa.BigInteger, primary_key=True), sa.Column("name", sa.String(50)),'
    ' sa.Column("owner_id", sa.BigInteger), sa.Column("created_at", sa.DateTime(timezone=True)))',
    'op.create_index("ix_t{p}_name", "t{p}", ["name"])',
    'op.add_column("t{p}", sa.Column("flag", sa.Boolean, nullable=False, server_default=sa.false()))',
    'op.alter_column("t{p}", "name", type_=sa.String(100), existing_type=sa.String(50))',
    'op.execute("UPDATE t{p} SET name = \'x\' WHERE name IS NULL")',
    'op.create_foreign_key("fk_t{p}_owner", "t{p}", "t0", ["owner_id"], ["id"])',
]


def build(root: Path, count: int) -> Path:
    revisions = []
    for i in range(count):
        # every 6th revision creates a table, the others change the most recent one
        table_n = (i // 6) * 6
        body = STEPS[i % 6].format(n=i if i % 6 == 0 else table_n, p=table_n)
        revisions.append((f"r{i:03d}", body))
    return make_project(root, revisions)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--revisions", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--shadow", default="cluster")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ini = build(Path(tmp), args.revisions)
        cmd = [sys.executable, "-m", "alembic_guard.cli", "check", "-c", str(ini), "--fail-on", "never",
               "--format", "json", "--output", str(Path(tmp) / "r.json")]
        warm = subprocess.run(cmd[:-4] + ["--shadow", "auto"] + cmd[-4:], capture_output=True, text=True)
        if warm.returncode != 0:
            sys.exit(warm.stderr)
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            r = subprocess.run(cmd + ["--shadow", args.shadow], capture_output=True, text=True)
            times.append(time.perf_counter() - t0)
            if r.returncode != 0:
                sys.exit(r.stderr)
        import json

        doc = json.loads((Path(tmp) / "r.json").read_text())
        statements = sum(len(rv["statements"]) for rv in doc["revisions"])
        print(f"{args.revisions} revisions, {statements} statements, shadow {doc['shadow']['provider']} "
              f"PostgreSQL {doc['shadow']['server_version']}")
        print(f"whole command: min {min(times):.2f} s, median {statistics.median(times):.2f} s, "
              f"max {max(times):.2f} s over {args.repeat} runs; in-process check {doc['duration_ms'] / 1000:.2f} s")


if __name__ == "__main__":
    main()
