"""Prove a rewritten autogenerate script on a shadow: the original and the rewritten revision, each
rendered as a file on top of the project's head, go through rewrite.proof."""

from __future__ import annotations

from typing import Any

from alembic.operations import ops

from ..alembic_api import proxies_restored
from .container import originals
from ..rewrite.proof import LockBudget


def revision_source(rev_id: str, down: str | tuple | None, upgrade_ops: ops.UpgradeOps) -> str:
    """A revision file whose ``upgrade()`` is ``upgrade_ops`` rendered by Alembic."""
    from alembic.autogenerate import render_python_code

    body = render_python_code(upgrade_ops)
    body = "\n".join(("    " + ln if ln.strip() else "") for ln in body.splitlines())
    return (f'"""alembic-guard proof revision"""\nfrom alembic import op\nimport sqlalchemy as sa\n'
            f"from sqlalchemy.dialects import postgresql\nimport alembic_guard.ops  # noqa: F401\n\n"
            f"revision = {rev_id!r}\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
            f"def upgrade():\n{body}\n\n\ndef downgrade():\n    pass\n")


def verify(context: Any, script: ops.MigrationScript, tables: list[str], budget: LockBudget,
           upgrade_ops: ops.UpgradeOps | None = None):
    """Prove the rewritten ``script.upgrade_ops`` (or ``upgrade_ops``: the same with some operations
    left out) against its original on a shadow. Returns a Proof."""
    with proxies_restored():  # the nested Alembic runs replace the outer run's alembic.context and op
        return _off_the_event_loop(_verify, context, script, tables, budget, upgrade_ops)


def _off_the_event_loop(fn, *args):
    """``fn(*args)``, in a thread of its own when this thread runs an asyncio event loop: an async
    env.py (Alembic's ``async`` template) calls the hook from inside ``connection.run_sync``, and the
    proof's own run of that env.py calls ``asyncio.run()``, which refuses to start inside a running
    loop. The outer run waits for the result meanwhile."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args)
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="alembic-guard proof") as pool:
        return pool.submit(fn, *args).result()


def _verify(context: Any, script: ops.MigrationScript, tables: list[str], budget: LockBudget,
            upgrade_ops: ops.UpgradeOps | None = None):
    from ..capture.project import load_project
    from ..shadow import obtain_shadow, scratch_database
    from ..rewrite.proof import Proof, load_revisions, project_copy, prove

    config = context.config if hasattr(context, "config") else None
    config = config or getattr(context, "opts", {}).get("config")
    if config is None or not config.config_file_name:
        return Proof(error="the Alembic config is unknown, nothing to apply the revision to")
    try:
        project = load_project(str(config.config_file_name), config.config_ini_section)
        # Prove on the project's target version ([tool.alembic-guard] target-version: strict, as in
        # check); without one on the major of the database autogenerate compared against when a
        # server of it is at hand, else on what the provider chain has.
        from ..check_config import target_version
        from ..shadow.providers import can_provide

        major = target_version(str(config.config_file_name))
        if major is None:
            version = getattr(getattr(getattr(context, "connection", None), "dialect", None),
                              "server_version_info", None)
            major = version[0] if version and can_provide(version[0]) else None
        with obtain_shadow(target_major=major) as server:
            # The revision scripts run only now, connections redirected to the shadow.
            with scratch_database(server) as dbname:
                load_revisions(project, server, dbname)
            heads = project.script.get_heads()
            down = heads[0] if len(heads) == 1 else (tuple(heads) or None)
            rev_id = script.rev_id or "ag_autogen"
            upgrade_ops = upgrade_ops if upgrade_ops is not None else script.upgrade_ops
            rewritten = revision_source(rev_id, down, upgrade_ops)
            ups = ops.UpgradeOps(ops=originals(upgrade_ops))
            original = revision_source(rev_id, down, ups)
            with project_copy(project, add={f"{rev_id}_original.py": original}) as a, \
                    project_copy(project, add={f"{rev_id}_rewritten.py": rewritten}) as b:
                return prove(project, server, rev_id, down if isinstance(down, str) else None, original=a,
                             rewritten=b, tables=tables or None, budget=budget)
    except Exception as exc:  # no shadow, broken project: the rewrite stays unverified
        return Proof(error=f"{type(exc).__name__}: {exc}")
