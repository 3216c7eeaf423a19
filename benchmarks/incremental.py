"""Incremental checks: a PR that appends one revision to a long history, cold vs warm cache.

Run:  python benchmarks/incremental.py [--revisions 300] [--repeat 3] [--shadow auto] [--cache DIR]
                                        [--compare CHECKOUT]

It uses a cache directory of its own (``$ALEMBIC_GUARD_CACHE``; a temp dir unless ``--cache``): the
incremental cache lives only in the warm cluster, and a warm cluster another run holds (a test
session, say) would leave this one a private copy, where the cache is off. The first check then
includes an initdb.

It writes the generated project of benchmarks/check_speed.py (``--revisions`` revisions) into a temp
dir and checks it once, which keeps its schema state as a template database in the warm cluster
(alembic_guard/incremental). Then, ``--repeat`` times, it appends one revision (a new one each time, as
successive PRs would) and times the whole command twice on the same files: ``--no-cache`` (every
revision traced) and the default (the cached head cloned, only the new revision traced). It prints
both side by side: seconds from process start to exit, the in-process check time, and how many
revisions were traced and reused. Results are recorded in docs/benchmarks.md.

``--compare CHECKOUT`` (another checkout of alembic_guard, e.g. the main branch's worktree) adds, for
each PR, a warm check by that checkout's code right before this one's, on the same files and cache
(each keeps its own template: the tool's code is in the key), so that the two are compared within one
run on a shared machine. Python's own settings (``PYTHONDONTWRITEBYTECODE``) are inherited.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.check_speed import build  # noqa: E402


def append(ini: Path, n: int) -> None:
    """Append revision ``r<n>``: an index on t0 (an error: the check has something to say)."""
    (ini.parent / "migrations" / "versions" / f"r{n:03d}.py").write_text(textwrap.dedent(f'''\
        """revision r{n:03d}"""
        from alembic import op
        import sqlalchemy as sa

        revision = "r{n:03d}"
        down_revision = "r{n - 1:03d}"


        def upgrade():
            op.create_index("ix_pr_{n}", "t0", ["name"])


        def downgrade():
            op.drop_index("ix_pr_{n}", "t0")
        '''))


def timed(cmd: list[str], out: Path, src: str | None = None) -> tuple[float, dict]:
    """Seconds from process start to exit, and the JSON report; ``src``: the checkout to run."""
    env = dict(os.environ, PYTHONPATH=src) if src else None
    t0 = time.perf_counter()
    # run from the report's directory: ``python -m`` puts the working directory first on sys.path,
    # and a checkout there would win over ``src``
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=out.parent)
    seconds = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        sys.exit(r.stderr)
    return seconds, json.loads(out.read_text())


def findings(doc: dict) -> list[tuple]:
    return [(r["revision"], f["rule"], f["severity"], f["line"], f["message"])
            for r in doc["revisions"] for f in r["findings"]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--revisions", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shadow", default="auto")
    ap.add_argument("--cache", help="ALEMBIC_GUARD_CACHE for the runs (default: a fresh temp dir)")
    ap.add_argument("--compare", metavar="CHECKOUT", help="also time the warm check of this checkout's code")
    ap.add_argument("--text", action="store_true",
                    help="also time, after each warm JSON check, a warm check in the default text format "
                         "(written to a file, so without color)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ALEMBIC_GUARD_CACHE"] = args.cache or str(Path(tmp) / "cache")
        ini = build(Path(tmp), args.revisions)
        out = Path(tmp) / "r.json"
        cmd = [sys.executable, "-m", "alembic_guard.cli", "check", "-c", str(ini), "--fail-on", "never",
               "--format", "json", "--output", str(out), "--shadow", args.shadow]
        first, doc = timed(cmd, out)  # cold, and keeps the template of the head
        if args.compare:
            timed(cmd, out, args.compare)  # the other code's template and traces (a key of its own)
        print(f"{args.revisions} revisions, shadow {doc['shadow']['provider']} PostgreSQL "
              f"{doc['shadow']['server_version']}; first check (cold, fills the cache) {first:.2f} s")
        rows, other, texts = [], [], []
        for k in range(args.repeat):
            append(ini, args.revisions + k)
            cold_s, cold = timed(cmd + ["--no-cache"], out)
            if args.compare:
                other_s, other_doc = timed(cmd, out, args.compare)
                other.append((other_s, other_doc["duration_ms"] / 1000, findings(other_doc) == findings(cold),
                              sum(1 for r in other_doc["revisions"] if not r.get("cached"))))
            warm_s, warm = timed(cmd, out)
            if args.text:
                text_cmd = [a for a in cmd if a not in ("--format", "json")]
                text_cmd[text_cmd.index("--output") + 1] = str(Path(tmp) / "r.txt")
                t0 = time.perf_counter()
                subprocess.run(text_cmd, stdout=subprocess.DEVNULL, cwd=tmp)
                texts.append(time.perf_counter() - t0)
            same = findings(cold) == findings(warm)
            reused = sum(1 for r in warm["revisions"] if r.get("cached"))
            rows.append((cold_s, cold["duration_ms"] / 1000, warm_s, warm["duration_ms"] / 1000,
                         len(warm["revisions"]) - reused, reused, same))
        print(f"{'PR':>3} | {'cold: command':>13} {'in-process':>10} | {'warm: command':>13} {'in-process':>10} "
              f"{'traced':>6} {'reused':>6} | same findings")
        for i, (cs, ci, ws, wi, traced, reused, same) in enumerate(rows, 1):
            print(f"{i:>3} | {cs:>11.2f} s {ci:>8.2f} s | {ws:>11.2f} s {wi:>8.2f} s {traced:>6} {reused:>6} | {same}")
        print(f"median: cold {statistics.median(r[0] for r in rows):.2f} s, "
              f"warm {statistics.median(r[2] for r in rows):.2f} s (whole command)")
        if texts:
            print("warm, text format (whole command): " + ", ".join(f"{t:.2f} s" for t in texts))
        if args.compare:
            print(f"warm check of {args.compare} just before each warm check above:")
            for i, ((os_, oi, osame, otraced), row) in enumerate(zip(other, rows, strict=True), 1):
                print(f"{i:>3} | command {os_:.2f} s, in-process {oi:.2f} s, traced {otraced}, same findings {osame} | "
                      f"this code / that: command {row[2] / os_:.2f}, in-process {row[3] / oi:.2f}")


if __name__ == "__main__":
    main()
