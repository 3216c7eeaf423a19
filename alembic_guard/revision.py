"""``alembic-guard revision --autogenerate``: Alembic's autogenerate against a shadow at head.

Autogenerate compares the models with a database at the current head. Instead of the developer's
own database, this upgrades a scratch database on the shadow to all heads (through the project's
env.py, connections redirected as in ``check``) and runs ``alembic revision --autogenerate`` against
it. With ``alembic_guard.process_revision_directives`` in env.py, the new revision comes out already
rewritten into safe operations and verified (docs/rewrites.md).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command

from .capture.project import error_from_exception, load_project
from .capture.redirect import redirect_connections
from .capture.runner import _cwd, _quiet_alembic, provide_production_roles
from .errors import GuardError
from .shadow import obtain_shadow, scratch_database


def run_revision(config_file: str, message: str, *, section: str = "alembic", x_args: list[str] | None = None,
                 autogenerate: bool = True, rev_id: str | None = None, shadow: str | None = None,
                 shadow_url: str | None = None, verbose: bool = False, target: int | None = None) -> list[Path]:
    """Write a new revision file; returns its path(s). Raises GuardError (with file and line) when
    env.py or a revision fails on the shadow."""
    project = load_project(config_file, section, x_args)
    config = project.config
    from .check_config import target_version

    major = target_version(config_file, target)
    with obtain_shadow(shadow, shadow_url, major) as server, scratch_database(server) as dbname:
        with _cwd(Path(config.config_file_name or ".").resolve().parent), _quiet_alembic(verbose), \
                redirect_connections(server, dbname, project.version_dirs()):
            project.load_revisions()  # a broken graph or failing import: a GuardError, as in check
            provide_production_roles(server, dbname, config_file)
            try:
                command.upgrade(config, "heads")
            except GuardError:
                raise
            except Exception as exc:
                raise error_from_exception(exc, "upgrading the shadow to head failed") from exc
            try:
                scripts = command.revision(config, message=message, autogenerate=autogenerate, rev_id=rev_id)
            except GuardError:
                raise
            except OSError as exc:
                if exc.filename is None:
                    raise error_from_exception(exc, "alembic revision failed") from exc
                # the new file could not be written: the path is the user's, not Alembic's writer
                raise GuardError(f"cannot write the new revision file: {exc.strerror}.", path=str(exc.filename),
                                 hint="Make its directory writable and run the command again.") from exc
            except Exception as exc:
                raise error_from_exception(exc, "alembic revision failed") from exc
    if not isinstance(scripts, list):
        scripts = [scripts]
    return [Path(s.path) for s in scripts if s is not None]

