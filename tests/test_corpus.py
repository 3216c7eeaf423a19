"""The migration-safety corpus: every file of tests/corpus/dangerous must be judged "unsafe" for its
hazard, every file of tests/corpus/safe must not be "unsafe", each run as its own Alembic revision on
a fresh copy of tests/corpus/seed.sql, in both transaction modes:

* ``transaction``: ``op.execute(sql)`` inside the migration transaction
  (``transaction_per_migration=True``);
* ``autocommit``: the same inside ``with op.get_context().autocommit_block():``.

Each file starts with a header of ``-- key: value`` lines:

* ``hazard:`` what goes wrong (or, for a safe file, why it is safe);
* ``expect:`` the rule ids of which at least one must report an error (dangerous files), or ``safe``;
* ``modes:`` ``both`` (default), ``transaction`` or ``autocommit``; ``skip-<mode>:`` says why a file
  does not run (or is not dangerous) in the other mode;
* ``xfail-<mode>:`` a known miss or false positive of alembic_guard, with what its report said
  (the test is then ``xfail(strict=True)``, so a fix makes it fail until the mark is removed).

The seed is built once per test session in a template database; each case gets a copy
(``CREATE DATABASE … TEMPLATE``), so files never see each other's changes.
"""

from __future__ import annotations

import contextlib
import re
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pglast
import psycopg
import pytest

from alembic_guard.capture.project import load_project
from alembic_guard.capture.runner import Runner
from alembic_guard.judge import judge
from alembic_guard.shadow.scratch import create_database, drop_database
from tests.helpers import describe, write_project

CORPUS = Path(__file__).parent / "corpus"
MODES = ("transaction", "autocommit")
_HEADER = re.compile(r"^--\s*([a-z-]+):\s*(.*)$")


def parse_header(path: Path) -> dict[str, str]:
    """The ``-- key: value`` lines at the top of ``path`` (continuation lines ``--   …`` are joined)."""
    header: dict[str, str] = {}
    key = None
    for line in path.read_text().splitlines():
        if not line.startswith("--"):
            break
        m = _HEADER.match(line)
        if m:
            key = m.group(1)
            header[key] = m.group(2).strip()
        elif key and line[2:].strip():
            header[key] += " " + line[2:].strip()
    return header


def body_for(sql: str, mode: str) -> str:
    """The text of upgrade(). In the migration transaction: the whole file in one op.execute
    (alembic_guard splits and traces it statement by statement). In an autocommit block: one
    op.execute per statement, since PostgreSQL runs a multi-statement string as one implicit
    transaction."""
    if mode == "transaction":
        return f"op.execute({sql!r})"
    calls = "".join(f"\n    op.execute({stmt!r})" for stmt in pglast.split(sql))
    return f"with op.get_context().autocommit_block():{calls}"


def cases():
    for kind in ("dangerous", "safe"):
        for path in sorted((CORPUS / kind).glob("*.sql")):
            header = parse_header(path)
            modes = header.get("modes", "both")
            for mode in MODES:
                marks = []
                if modes not in ("both", mode):
                    reason = header.get(f"skip-{mode}", f"only runs in {modes} mode")
                    marks.append(pytest.mark.skip(reason=reason))
                elif f"xfail-{mode}" in header:
                    marks.append(pytest.mark.xfail(strict=True, reason=header[f"xfail-{mode}"]))
                yield pytest.param(kind, path, mode, id=f"{kind}/{path.stem}-{mode}", marks=marks)


class DatabasePool:
    """Copies of the seeded template, created (and dropped) one step ahead in a background thread:
    CREATE DATABASE costs about as much as running a case, so the two overlap."""

    AHEAD = 3

    def __init__(self, shadow, template: str):
        self.shadow, self.template = shadow, template
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="corpus-db")
        self.ready: deque[Future[str]] = deque()

    def _fill(self) -> None:
        while len(self.ready) < self.AHEAD:
            self.ready.append(self.executor.submit(create_database, self.shadow, self.template, "corpus"))

    def take(self) -> str:
        self._fill()
        name = self.ready.popleft().result()
        self._fill()
        return name

    def give_back(self, name: str) -> None:
        self.executor.submit(self._drop, name)

    def _drop(self, name: str) -> None:
        with contextlib.suppress(psycopg.Error):
            drop_database(self.shadow, name)

    def close(self) -> None:
        for future in self.ready:
            with contextlib.suppress(Exception):
                self.give_back(future.result())
        self.executor.shutdown(wait=True)


@pytest.fixture(scope="module")
def databases(shadow):
    """A pool of fresh copies of a database holding tests/corpus/seed.sql (built once)."""
    template = create_database(shadow, prefix="corpus_tpl")
    pool = None
    try:
        with psycopg.connect(shadow.conninfo(template), autocommit=True) as c:
            c.execute((CORPUS / "seed.sql").read_text())
        pool = DatabasePool(shadow, template)
        yield pool
    finally:
        if pool is not None:
            pool.close()
        with contextlib.suppress(psycopg.Error):
            drop_database(shadow, template)


def run_file(shadow, databases: DatabasePool, tmp_path: Path, path: Path, mode: str):
    dbname = databases.take()
    try:
        ini = write_project(tmp_path, [body_for(path.read_text(), mode)])
        revisions = Runner(load_project(str(ini)), shadow, dbname).run()
        judge(revisions, shadow.version_num)
        (rev,) = revisions
        return rev
    finally:
        databases.give_back(dbname)


def test_corpus_files_have_headers():
    files = sorted(CORPUS.glob("*/*.sql"))
    assert len(list((CORPUS / "dangerous").glob("*.sql"))) >= 33
    assert len(list((CORPUS / "safe").glob("*.sql"))) >= 17
    for path in files:
        header = parse_header(path)
        assert header.get("hazard"), path
        assert header.get("expect"), path
        assert (header["expect"] == "safe") == (path.parent.name == "safe"), path
        assert header.get("modes", "both") in ("both", *MODES), path
        assert set(header) <= {"hazard", "expect", "modes", *(f"{k}-{m}" for k in ("skip", "xfail") for m in MODES)}, path


@pytest.mark.parametrize(("kind", "path", "mode"), list(cases()))
def test_corpus(shadow, databases, tmp_path, kind, path, mode):
    header = parse_header(path)
    rev = run_file(shadow, databases, tmp_path, path, mode)
    assert rev.error is None, describe(rev)
    errors = [f for f in rev.findings if f.severity == "error" and not f.suppressed]
    if kind == "dangerous":
        expected = {r.strip() for r in header["expect"].split(",")}
        assert rev.verdict == "unsafe", describe(rev)
        assert expected & {f.rule for f in errors}, describe(rev)
    else:  # not "unsafe", and not "unknown" either: `alembic-guard check` fails on both by default
        assert rev.verdict == "safe", describe(rev)


def test_lock_table_in_autocommit_block_fails_as_on_postgresql(shadow, databases, tmp_path):
    # dangerous/d26 is skipped in autocommit mode because PostgreSQL refuses it there: the check
    # should report that failure, as `alembic upgrade` would hit it.
    rev = run_file(shadow, databases, tmp_path, CORPUS / "dangerous" / "d26_lock_table.sql", "autocommit")
    assert rev.error and "LOCK TABLE can only be used in transaction blocks" in rev.error, describe(rev)
