"""What tracing costs: a plain ``alembic upgrade head`` vs the traced run, on the same server.

Run:  python benchmarks/trace_overhead.py [--repeat 5] [--revisions 30] [--tables 100] [--shadow auto] [--no-cli]

Three histories, each applied to a fresh empty database of one shadow server every time:

- ``generated``: ``--revisions`` revisions of benchmarks/check_speed.py's mix (create table, index,
  add column, alter type, data fix, foreign key), written by tests/projects/factory.py ``make_project``;
- ``corpus``: tests/corpus/seed.sql (tables with a few thousand rows, partitions, a materialized
  view, enum, domains) as the first revision, then every tests/corpus/safe/*.sql that applies in
  sequence (one revision each, in the mode its header allows) — the closest thing to a real history
  the repository holds;
- ``wide``: ``--tables`` revisions that each create a table (primary key, foreign key, index), then
  the ``generated`` mix: a schema as wide as a real project's, where every revision starts with
  many tables already there (what the revision facts cost grows with: trace/facts_cache.py).

Per history and repetition, in this order (so the server's caches are equally warm):

1. ``plain``: ``alembic.command.upgrade(config, "heads")`` in-process, the project's own env.py, its
   URL pointed at the fresh database;
2. ``traced``: ``Runner(...).run()`` in-process — the tracing part of ``alembic-guard check``;
3. (unless ``--no-cli``) ``alembic upgrade heads`` as a subprocess, and the whole
   ``alembic-guard check --shadow url`` command as a subprocess (it creates its own scratch database
   on the same server).

Prints min / median seconds of each, and the ratios traced/plain (in-process) and check/alembic
(subprocesses) side by side. The machine may be shared: run with ``--repeat`` ≥ 5 and compare
figures of the same run only. Results are recorded in docs/benchmarks.md ("Tracing cost").
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import psycopg  # noqa: E402
from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402

from alembic_guard.capture.project import load_project  # noqa: E402
from alembic_guard.capture.runner import Runner  # noqa: E402
from alembic_guard.shadow import obtain_shadow, scratch_database  # noqa: E402
from check_speed import STEPS, build as build_generated  # noqa: E402
from tests.projects.factory import make_project  # noqa: E402

CORPUS = ROOT / "tests" / "corpus"
_HEADER = re.compile(r"^--\s*([a-z-]+):\s*(.*)$")


def _modes(path: Path) -> str:
    for line in path.read_text().splitlines():
        m = _HEADER.match(line)
        if m and m.group(1) == "modes":
            return m.group(2).strip()
    return "both"


def _body(sql: str, mode: str) -> str:
    import pglast

    if mode == "transaction":
        return f"op.execute({sql!r})"
    calls = "".join(f"\n    op.execute({stmt!r})" for stmt in pglast.split(sql))
    return f"with op.get_context().autocommit_block():{calls}"


def build_corpus(root: Path, server) -> Path:
    """seed.sql, then the safe corpus files that apply one after the other (tried on a scratch
    database first: a file that fails after the earlier ones is left out)."""
    revisions = [("c000", _body((CORPUS / "seed.sql").read_text(), "transaction"))]
    with scratch_database(server) as db, psycopg.connect(server.conninfo(db), autocommit=True) as conn:
        conn.execute((CORPUS / "seed.sql").read_text())
        for i, path in enumerate(sorted((CORPUS / "safe").glob("*.sql")), 1):
            sql = path.read_text()
            mode = "autocommit" if _modes(path) == "autocommit" else "transaction"
            try:
                if mode == "transaction":
                    with conn.transaction():
                        conn.execute(sql)
                else:
                    import pglast

                    for stmt in pglast.split(sql):
                        conn.execute(stmt)
            except psycopg.Error:
                continue
            revisions.append((f"c{i:03d}", _body(sql, mode)))
    return make_project(root, revisions)


def build_wide(root: Path, tables: int, count: int) -> Path:
    """``tables`` revisions that each create a table (primary key, foreign key to the first, index),
    then ``count`` revisions of the generated mix: a schema as wide as a real project's, where each
    revision starts with many tables already there."""
    revisions = [(f"w{i:03d}", f'''op.execute("""CREATE TABLE w{i} (id bigint PRIMARY KEY, name varchar(50),
        owner_id bigint{" REFERENCES w0 (id)" if i else ""}, created_at timestamptz)""")
op.execute("CREATE INDEX ix_w{i}_name ON w{i} (name)")''') for i in range(tables)]
    for i in range(count):
        table_n = (i // 6) * 6
        revisions.append((f"r{i:03d}", STEPS[i % 6].format(n=i if i % 6 == 0 else table_n, p=table_n)))
    return make_project(root, revisions)


def _plain(ini: Path, server, db: str) -> float:
    cfg = Config(str(ini))
    cfg.set_main_option("sqlalchemy.url", server.sqlalchemy_url(db).replace("%", "%%"))
    t0 = time.perf_counter()
    command.upgrade(cfg, "heads")
    return time.perf_counter() - t0


def _traced(ini: Path, server, db: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    project = load_project(str(ini))
    revisions = Runner(project, server, db).run()
    elapsed = time.perf_counter() - t0
    bad = [r.revision for r in revisions if r.error]
    if bad:
        sys.exit(f"traced run failed in {bad}: {revisions[0].error}")
    return elapsed, sum(len(r.statements) for r in revisions)


def _admin_url(server) -> str:
    return server.sqlalchemy_url(server.admin_db).replace("postgresql+psycopg://", "postgresql://") \
        .replace("postgresql+psycopg2://", "postgresql://")


def _subprocess_alembic(ini: Path, server, db: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "alembic", "-c", str(ini), "-x", "unused=1", "upgrade", "heads"]
    # the project's env.py reads sqlalchemy.url from the ini: point a copy at the fresh database
    text = ini.read_text()
    url = server.sqlalchemy_url(db).replace("%", "%%")
    copy = ini.with_name("alembic_plain.ini")
    copy.write_text(re.sub(r"(?m)^sqlalchemy\.url = .*$", lambda _m: f"sqlalchemy.url = {url}", text))
    cmd[4] = str(copy)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ini.parent)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(r.stderr)
    return elapsed


def _subprocess_check(ini: Path, server) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "alembic_guard.cli", "check", "-c", str(ini), "--fail-on", "never",
           "--no-fail-on-unknown", "--format", "json", "--output", str(ini.parent / "r.json"),
           "--shadow", "url", "--shadow-url", _admin_url(server)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ini.parent)
    elapsed = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        sys.exit(r.stderr)
    return elapsed


def _fmt(xs: list[float]) -> str:
    return f"{min(xs):6.2f} / {statistics.median(xs):6.2f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--revisions", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--shadow", default=None, help="shadow provider (default: the product's chain)")
    ap.add_argument("--no-cli", action="store_true", help="skip the subprocess timings")
    ap.add_argument("--tables", type=int, default=100, help="tables of the 'wide' history (0: leave it out)")
    ap.add_argument("--only", choices=("generated", "corpus", "wide"), action="append")
    args = ap.parse_args()
    with obtain_shadow(args.shadow) as server, tempfile.TemporaryDirectory() as tmp:
        print(f"shadow {server.provider} PostgreSQL {server.version}; {os.cpu_count()} cores "
              "(shared machine: compare figures of the same run)")
        histories = {}
        if not args.only or "generated" in args.only:
            histories["generated"] = build_generated(Path(tmp) / "generated", args.revisions)
        if not args.only or "corpus" in args.only:
            histories["corpus"] = build_corpus(Path(tmp) / "corpus", server)
        if args.tables and (not args.only or "wide" in args.only):
            histories["wide"] = build_wide(Path(tmp) / "wide", args.tables, args.revisions)
        print(f"{'history':10} {'stmts':>6} {'plain s':>15} {'traced s':>15} {'ratio':>6}"
              + ("" if args.no_cli else f" {'alembic cli s':>15} {'check cli s':>15} {'ratio':>6}")
              + "   (min / median)")
        for name, ini in histories.items():
            plain, traced, cli_plain, cli_check = [], [], [], []
            statements = 0
            for _ in range(args.repeat):
                with scratch_database(server) as db:
                    plain.append(_plain(ini, server, db))
                with scratch_database(server) as db:
                    t, statements = _traced(ini, server, db)
                    traced.append(t)
                if not args.no_cli:
                    with scratch_database(server) as db:
                        cli_plain.append(_subprocess_alembic(ini, server, db))
                    cli_check.append(_subprocess_check(ini, server))
            line = (f"{name:10} {statements:6d} {_fmt(plain):>15} {_fmt(traced):>15} "
                    f"{statistics.median(traced) / statistics.median(plain):5.2f}x")
            if not args.no_cli:
                line += (f" {_fmt(cli_plain):>15} {_fmt(cli_check):>15} "
                         f"{statistics.median(cli_check) / statistics.median(cli_plain):5.2f}x")
            print(line, flush=True)


if __name__ == "__main__":
    main()
