"""The work of the pytest plugin (alembic_guard_pytest, loaded by the ``pytest11`` entry point):
imported only when ``--alembic-guard`` is given or a fixture asks for the report.

The check runs once per session (per xdist worker), at collection, before any test runs; each
revision becomes an item that passes or fails as ``alembic-guard check``'s exit status would for it
(alembic_guard.gate.revision_fails).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .errors import GuardError
from .exit_policy import revision_fails
from .gate import failure_text
from .model import Report, RevisionTrace

_REPORT = pytest.StashKey[object]()


def config_path(config: pytest.Config) -> Path:
    """The Alembic config: --alembic-guard-config (relative to the invocation directory), else the
    ``alembic_guard_config`` ini option (relative to the rootdir), else ./alembic.ini."""
    option = config.getoption("alembic_guard_config", None)
    if option:
        return Path(config.invocation_params.dir, option).resolve()
    ini = config.getini("alembic_guard_config")
    if ini:
        return Path(config.rootpath, ini).resolve()
    return Path(config.invocation_params.dir, "alembic.ini").resolve()


def session_report(config: pytest.Config) -> Report:
    """Run ``check`` once per session; a GuardError (bad config, no shadow) is raised again each time."""
    cached = config.stash.get(_REPORT, None)
    if cached is None:
        from .check import CheckOptions, run_check

        opts = CheckOptions(config_file=str(config_path(config)),
                            fail_on=config.getoption("alembic_guard_fail_on", None))
        try:
            cached = run_check(opts)
        except GuardError as err:
            cached = err
        config.stash[_REPORT] = cached
    if isinstance(cached, GuardError):
        raise cached
    return cached


class RevisionFailed(Exception):
    """A revision fails the check; the message is the failure text."""


class RevisionItem(pytest.Item):
    """One revision: passes when the check would not fail for it."""

    def __init__(self, *, report: Report, rev: RevisionTrace, **kwargs):
        super().__init__(**kwargs)
        self.report = report
        self.rev = rev
        self.add_marker("alembic_guard")
        self.user_properties.append(("verdict", rev.verdict))

    def runtest(self) -> None:
        if revision_fails(self.report, self.rev):
            raise RevisionFailed(failure_text(self.rev))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, (RevisionFailed, GuardError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.rev.path or self.path, None, f"alembic-guard {self.rev.revision}"


class CheckErrorItem(pytest.Item):
    """Stands for the revisions when the check could not run at all (bad config, no shadow)."""

    def __init__(self, *, error: GuardError, **kwargs):
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        raise RevisionFailed(f"alembic-guard: {self.error.paragraph()}")

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, RevisionFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, "alembic-guard check"


class AlembicConfigFile(pytest.File):
    """The Alembic config file as a collector of one item per revision."""

    def collect(self):
        try:
            report = session_report(self.config)
        except GuardError as err:
            yield CheckErrorItem.from_parent(self, name="check", error=err)
            return
        for rev in report.revisions:
            title = rev.doc.splitlines()[0].strip() if rev.doc else ""
            name = f"{rev.revision} {title}".strip()
            yield RevisionItem.from_parent(self, name=name, report=report, rev=rev)


class RevisionCollection:
    """Registered when --alembic-guard is given: adds the config file's items to the session's."""

    def __init__(self, config: pytest.Config):
        self.config = config

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", "alembic_guard: an alembic-guard revision item")

    @pytest.hookimpl(tryfirst=True)  # before -k/-m/--deselect filter the items
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config, items: list) -> None:
        collector = AlembicConfigFile.from_parent(session, path=config_path(config))
        items.extend(session.genitems(collector))

    def pytest_report_header(self, config: pytest.Config) -> str:
        return f"alembic-guard: revisions of {config_path(config)}"
