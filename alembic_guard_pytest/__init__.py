"""pytest plugin of alembic-guard (entry point ``pytest11: alembic_guard``).

``pytest --alembic-guard`` adds one test item per revision of the project's Alembic config
(``alembic.ini::<revision> <message>``): it passes when ``alembic-guard check`` would not fail for
that revision, and fails with its findings (rule, line, message, fix) otherwise. Fixtures:
``alembic_guard_report`` (the session's Report) and ``alembic_guard_shadow`` (a running shadow
PostgreSQL, stopped at the end of the session).

This module is loaded into every pytest session of an environment that has alembic-guard
installed, so it imports nothing of alembic_guard (which imports Alembic and SQLAlchemy) until
``--alembic-guard`` is given or one of the fixtures is used. The work is in alembic_guard.pytest_plugin.
"""

from __future__ import annotations

import pytest

FAIL_ON = ("error", "warning", "info", "never")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("alembic-guard", "migration safety (alembic-guard)")
    group.addoption("--alembic-guard", action="store_true", default=False, dest="alembic_guard",
                    help="Trace every Alembic revision on a shadow PostgreSQL: one test item per revision.")
    group.addoption("--alembic-guard-config", dest="alembic_guard_config", default=None, metavar="PATH",
                    help="Alembic config file (default: alembic.ini; relative to the invocation directory).")
    group.addoption("--alembic-guard-fail-on", dest="alembic_guard_fail_on", default=None, choices=FAIL_ON,
                    help="Lowest finding severity that fails a revision's item (default: [tool.alembic-guard] "
                         "fail-on, else error).")
    parser.addini("alembic_guard_config", "Alembic config file for --alembic-guard (default alembic.ini).",
                  default="")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("alembic_guard", False):
        from alembic_guard.pytest_plugin import RevisionCollection

        config.pluginmanager.register(RevisionCollection(config), "alembic_guard_revisions")


@pytest.fixture(scope="session")
def alembic_guard_report(request: pytest.FixtureRequest):
    """The Report of ``alembic-guard check`` on the project (traced once per session, shared with
    the ``--alembic-guard`` items)."""
    from alembic_guard.pytest_plugin import session_report

    return session_report(request.config)


@pytest.fixture(scope="session")
def alembic_guard_shadow():
    """A running shadow PostgreSQL server (alembic_guard.shadow.ShadowServer: ``conninfo(db)``,
    ``sqlalchemy_url(db)``, ``version_num``), chosen like ``check`` does ($ALEMBIC_GUARD_SHADOW,
    $ALEMBIC_GUARD_SHADOW_URL); stopped and removed at the end of the session."""
    from alembic_guard.shadow import obtain_shadow

    with obtain_shadow() as server:
        yield server
