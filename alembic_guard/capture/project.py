"""Load an Alembic project: its config, script directory and revision files, with clear errors.

Loading reads the config and compiles env.py and the revision files, but imports (runs) no revision
script: a revision module, or a module it imports, may touch the database at import time. The
revision map is loaded by each job once a shadow is at hand, inside ``redirect_connections``
(``Project.load_revisions``); the script directory refuses to load it outside one.
"""

from __future__ import annotations

import argparse
import importlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionMap
from alembic.util import CommandError

from ..alembic_api import revision_loader, revision_map_loaded, version_locations
from ..errors import GuardError
from . import redirect
from .revision_graph import graph_error


@dataclass
class Project:
    config: Config
    script: ScriptDirectory
    env_path: Path
    # raw DBAPI connections the project's code opened while its revision scripts were imported
    # (load_revisions): Alembic's commands reuse the loaded scripts (alembic_api.script_reused), so a
    # revision that connects at import time does so here only, and the Runner reports it from here
    import_connects: list[redirect.RawConnect] = field(default_factory=list)
    # every revision script the loader imported, duplicates of one revision id included (the revision
    # map keeps only one): revision_graph explains a broken graph from these
    loaded: list[Script] = field(default_factory=list)

    def revision_paths(self) -> dict[str, str]:
        """Revision script path → revision id, for every revision in the project (loaded)."""
        return {sc.path: sc.revision for sc in self.script.walk_revisions()}

    def ordered(self) -> list[Script]:
        """All revisions, base first (topological order; loaded). A check asks four times or more and
        walking a long history is not free, so the walk is kept while the revision map is the same:
        the same map objects with as many entries (``RevisionMap.add_revision`` adds one in place)."""
        rmap = self.script.revision_map
        if self._walk_valid(rmap):
            walked = self._walk[2]
        else:
            walked = list(reversed(list(self.script.walk_revisions())))
        loaded = rmap.__dict__.get("_revision_map")
        if loaded is not None:
            self._walk = (rmap, loaded, walked, len(loaded))
        return list(walked)

    def _walk_valid(self, rmap) -> bool:
        walk = getattr(self, "_walk", None)
        loaded = rmap.__dict__.get("_revision_map")
        return walk is not None and walk[0] is rmap and walk[1] is loaded and walk[3] == len(loaded)

    def version_dirs(self) -> list[Path]:
        """The project's version locations (where its revision scripts are)."""
        return [Path(v) for v in version_locations(self.script)]

    @property
    def revisions_loaded(self) -> bool:
        return revision_map_loaded(self.script)

    def load_revisions(self, *, real_database: bool = False) -> None:
        """Import the revision scripts and build the revision map. Only inside ``redirect_connections``
        (their top-level code may connect), unless ``real_database``: the user's own upgrade
        (``alembic-guard upgrade``), where connecting to their database is the point; a no-op once loaded.

        Raises GuardError for a broken revision graph (naming the config file) or a revision module
        that fails at import time (naming the innermost project file and line)."""
        if self.revisions_loaded:
            return
        if redirect.active() is None and not real_database:
            raise RuntimeError("revision scripts are loaded only inside redirect_connections()")
        cwd = os.getcwd()
        config_path = str(Path(self.config.config_file_name or ".").resolve())
        active = redirect.active()
        seen = len(active.raw_connects) if active is not None else 0
        try:
            os.chdir(Path(config_path).parent)  # as for `alembic`: prepend_sys_path is relative to it
            importlib.invalidate_caches()
            with warnings.catch_warnings(record=True) as warned:
                warnings.simplefilter("always")
                self.loaded.clear()  # a load that failed before may have yielded some of them already
                list(self.script.walk_revisions())
            if active is not None:
                self.import_connects = active.raw_connects[seen:]
        except CommandError as exc:
            raise self._graph_error() or GuardError(f"the revision graph is broken: {exc}",
                                                    path=config_path) from exc
        except GuardError:
            raise
        except Exception as exc:
            if not _project_frames(exc):  # raised by Alembic's revision map itself (a missing down_revision)
                raise self._graph_error() or GuardError(
                    f"the revision graph is broken: {type(exc).__name__}: {exc}", path=config_path) from exc
            # a revision module that fails at import time
            raise error_from_exception(exc, "loading the revision scripts failed") from exc
        finally:
            os.chdir(cwd)
            importlib.invalidate_caches()
        broken = self._graph_error()
        if broken is not None:  # Alembic only warned (a duplicate revision id): its map is missing a file
            raise broken
        for w in warned:  # warnings graph_error does not explain are the user's to see, as under alembic
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    def _graph_error(self) -> GuardError | None:
        return graph_error(self.loaded)


def script_directory(config: Config, loaded: list[Script] | None = None) -> ScriptDirectory:
    """``ScriptDirectory.from_config(config)`` whose revision map loads only while a redirect is
    active (RuntimeError otherwise): no revision script runs where it could reach a real database.
    Each script the loader yields is appended to ``loaded`` (when given)."""
    script = ScriptDirectory.from_config(config)
    load = revision_loader(script)

    def guarded():
        if redirect.active() is None:
            raise RuntimeError("revision scripts are loaded only inside redirect_connections()")
        for sc in load():
            if loaded is not None:
                loaded.append(sc)
            yield sc

    script.revision_map = RevisionMap(guarded)
    return script


def _compile(path: Path) -> None:
    try:
        source = path.read_bytes()
        compile(source, str(path), "exec")
    except SyntaxError as exc:
        raise GuardError(f"Python syntax error: {exc.msg}.", path=str(path), line=exc.lineno,
                         hint="Fix the file; alembic-guard checks no revision of a project whose scripts "
                              "do not compile.") from exc
    except OSError as exc:
        raise GuardError(f"cannot read the file: {exc.strerror}.", path=str(path)) from exc


def load_project(config_file: str, section: str = "alembic", x_args: list[str] | None = None) -> Project:
    """Read ``alembic.ini`` (or ``pyproject.toml``'s ``[tool.alembic]``) and the script directory,
    and compile env.py and the revision files; no revision script is imported
    (``Project.load_revisions`` does that, inside a redirect).

    Raises GuardError naming the file (and line for syntax errors) when the config is missing, the
    script location does not exist or a revision file does not compile.
    """
    path = Path(config_file).resolve()
    toml_only = False
    if path.is_dir():
        # pyproject.toml alone is read through -c <dir>/alembic.ini (Alembic's own convention, below)
        inside = any((path / name).is_file() for name in ("alembic.ini", "pyproject.toml"))
        raise GuardError("is a directory, not an Alembic config file.", path=str(path),
                         hint=f"Pass -c {path / 'alembic.ini'}." if inside else
                         "Pass the project's alembic.ini with -c.")
    if not path.exists():
        if path.name == "alembic.ini" and (path.parent / "pyproject.toml").exists():
            toml_only = True
        else:
            raise GuardError("no such Alembic config file.", path=str(path),
                             hint="Pass the project's alembic.ini with -c, or run from the project directory.")
    opts = argparse.Namespace(x=list(x_args or []), config=str(path), name=section, raiseerr=True,
                              quiet=True, autogenerate=False)
    if toml_only:
        config = Config(toml_file=str(path.parent / "pyproject.toml"), cmd_opts=opts)
    else:
        config = Config(str(path), ini_section=section, cmd_opts=opts,
                        toml_file=str(path.parent / "pyproject.toml"))
    config.attributes["alembic_guard"] = True
    try:
        location = config.get_alembic_option("script_location") if hasattr(config, "get_alembic_option") \
            else config.get_main_option("script_location")
    except Exception:  # configparser errors: malformed ini
        location = None
    if not location:
        raise GuardError(f"no script_location in section [{section}].", path=str(path),
                         hint="Is this the project's alembic.ini, and is -n/--name the right section?")
    cwd = os.getcwd()
    try:
        os.chdir(path.parent.resolve())  # relative paths in alembic.ini are relative to it... and cwd
        loaded: list[Script] = []
        script = script_directory(config, loaded)
        env_path = Path(script.dir) / "env.py"
        if env_path.exists():
            _compile(env_path)
        for version_dir in version_locations(script):
            for file in sorted(Path(version_dir).glob("*.py")):
                _compile(file)
    except CommandError as exc:
        raise GuardError(str(exc), path=str(path)) from exc
    finally:
        os.chdir(cwd)
    return Project(config=config, script=script, env_path=env_path, loaded=loaded)


def _project_frames(exc: BaseException) -> list:
    """The frames of ``exc``'s traceback in project files (not library, Alembic or alembic_guard files)."""
    import traceback

    import sysconfig

    stdlib = sysconfig.get_paths()["stdlib"]
    frames = traceback.extract_tb(exc.__traceback__)
    return [f for f in frames if "site-packages" not in f.filename and "/alembic/" not in f.filename
            and "alembic_guard" not in f.filename and not f.filename.startswith(("<", stdlib))]


def error_from_exception(exc: BaseException, what: str) -> GuardError:
    """A GuardError naming the innermost project file (not a library file) in ``exc``'s traceback."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    site = _project_frames(exc)
    where = site[-1] if site else (frames[-1] if frames else None)
    return GuardError(f"{what}: {type(exc).__name__}: {one_line(exc)}", path=where.filename if where else None,
                      line=where.lineno if where else None)


def one_line(exc: BaseException) -> str:
    """``exc``'s message as one line: a driver's multi-line text (PostgreSQL's ``LINE 1:`` and caret
    lines) joined, SQLAlchemy's ``[SQL: …]`` and "Background on this error" parts left out."""
    text = str(exc).split("\n[SQL:")[0].split("\n(Background on this error at:")[0]
    return " ".join(text.split())
