"""The upgrade plan: pending revisions in order, each with its timeouts and retry budget."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alembic.runtime.environment import EnvironmentContext

from ..capture.project import Project
from ..errors import GuardError
from ..settings import Settings, parse_duration_ms

#: keys of a revision file's ``alembic_guard = {...}`` (per-revision overrides)
REVISION_KEYS = {"lock_timeout": "lock_timeout_ms", "lock_timeout_ms": "lock_timeout_ms",
                 "statement_timeout": "statement_timeout_ms", "statement_timeout_ms": "statement_timeout_ms",
                 "attempts": "attempts", "allow_unsafe": "allow_unsafe"}


@dataclass
class Step:
    """One revision to apply. Durations in ms (0: none); ``attempts``: tries on lock_not_available."""

    revision: str
    message: str
    path: str
    lock_timeout_ms: int
    statement_timeout_ms: int
    attempts: int
    allow_unsafe: bool = False
    verdict: str | None = None  # check's verdict on the shadow (None: not checked)
    findings: list[str] = field(default_factory=list)


def current_heads(project: Project) -> tuple[str, ...]:
    """The revisions the database is at, read by the project's env.py (``alembic current``: reads
    the version table only). Raises GuardError when env.py fails (e.g. the database is unreachable)."""
    from ..capture.project import error_from_exception

    heads: list[str] = []

    def read(rev: Any, context: Any) -> list:
        heads.extend(context.get_current_heads())
        return []

    try:
        with EnvironmentContext(project.config, project.script, fn=read, dont_mutate=True):
            project.script.run_env()
    except GuardError:
        raise
    except Exception as exc:
        raise error_from_exception(exc, "reading the database's current revision failed") from exc
    return tuple(heads)


def pending(project: Project, target: str, heads: tuple[str, ...]) -> list[Any]:
    """The Script objects from ``heads`` (exclusive) to ``target`` (inclusive), base first."""
    try:
        revs = list(project.script.iterate_revisions(target, heads or "base"))
    except Exception as exc:
        raise GuardError(f"cannot upgrade from {', '.join(heads) or 'base'} to {target!r}: {exc}",
                         path=str(project.config.config_file_name)) from exc
    return list(reversed(revs))


def _overrides(script: Any) -> dict[str, Any]:
    module = getattr(script, "module", None)
    table = getattr(module, "alembic_guard", None) if module is not None else None
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise GuardError("`alembic_guard` in a revision file must be a dict such as "
                         "{'lock_timeout': '5s', 'statement_timeout': '10min', 'attempts': 20}.", path=script.path)
    unknown = sorted(set(table) - set(REVISION_KEYS))
    if unknown:
        raise GuardError(f"unknown key(s) {', '.join(unknown)} in the revision's `alembic_guard`; known: "
                         f"{', '.join(sorted(REVISION_KEYS))}.", path=script.path)
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = REVISION_KEYS[key]
        out[name] = parse_duration_ms(value, key) if name.endswith("_ms") else value
    return out


def make_plan(project: Project, target: str, settings: Settings, *, lock_timeout_ms: int | None = None,
              statement_timeout_ms: int | None = None) -> tuple[tuple[str, ...], list[Step]]:
    """``(current heads, steps)``. Timeouts: the revision's own ``alembic_guard`` dict, else the
    command line, else ``[tool.alembic-guard]`` (lock_timeout, retry_attempts); statement_timeout
    only from the revision or the command line (none by default)."""
    heads = current_heads(project)
    steps = []
    for sc in pending(project, target, heads):
        own = _overrides(sc)
        steps.append(Step(
            revision=sc.revision, message=(sc.doc or "").strip(), path=sc.path,
            lock_timeout_ms=own.get("lock_timeout_ms", lock_timeout_ms if lock_timeout_ms is not None
                                    else settings.lock_timeout_ms),
            # no statement_timeout unless asked for: a whole revision may build an index for hours
            statement_timeout_ms=own.get("statement_timeout_ms", statement_timeout_ms or 0),
            attempts=int(own.get("attempts", settings.retry_attempts)),
            allow_unsafe=bool(own.get("allow_unsafe", False))))
    return heads, steps
