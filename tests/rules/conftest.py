"""Fixtures for the rule tests: a standard schema (seeded with one row per table) and ``run``."""

from __future__ import annotations

import pytest

from helpers import SCHEMA, SEED, run_revisions

@pytest.fixture
def run(shadow, dbname, tmp_path):
    """``run(body_or_bodies, setup=SCHEMA+SEED, extra="")`` → the last RevisionTrace (or all of them).

    Each body is the text of a revision's upgrade(); ``extra`` SQL runs after the setup.
    """
    def _run(bodies, *, setup: str | None = None, extra: str = "", all_revisions: bool = False,
             allow_error: bool = False):
        single = isinstance(bodies, str)
        revs = run_revisions(shadow, dbname, tmp_path, [bodies] if single else list(bodies),
                             setup=(SCHEMA + SEED if setup is None else setup) + extra)
        for r in revs:
            if not allow_error:
                assert r.error is None, r.error
            for f in r.findings:
                if f.fix:  # every safe alternative is valid Python (placeholders only inside strings)
                    compile(f.fix, f"{f.rule} fix", "exec")
        return revs if all_revisions else revs[-1]
    return _run
