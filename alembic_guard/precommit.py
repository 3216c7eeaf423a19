"""pre-commit hook: ``python -m alembic_guard.precommit [FILE...]``.

Traces the project (every revision, so each one runs on the schema the ones before it built) and
reports and fails only for the revisions whose file is among FILE... (the revision files a commit
touches; pre-commit passes them). The Alembic config is ``--config``, else the alembic.ini nearest
to the files (walking up from each), else ./alembic.ini; files under different configs are checked
per config. Exit status as ``alembic-guard check``: 0 pass, 1 a given revision fails, 2 tool error.
Files that are not a revision of the project (``__init__.py``, a deleted file) are ignored.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path


def _nearest_ini(path: Path, stop: Path) -> Path | None:
    for parent in [path.parent, *path.parent.parents]:
        candidate = parent / "alembic.ini"
        if candidate.is_file():
            return candidate
        if parent == stop:
            break
    return None


def group_by_config(files: list[str], config: str | None, cwd: Path | None = None) -> dict[Path, list[Path]]:
    """Map each Alembic config file to the (resolved) revision files it is checked for."""
    cwd = (cwd or Path.cwd()).resolve()
    paths = [Path(cwd, f).resolve() for f in files]
    if config:
        return {Path(cwd, config).resolve(): paths}
    groups: dict[Path, list[Path]] = {}
    for p in paths:
        ini = _nearest_ini(p, cwd) if p.is_relative_to(cwd) else _nearest_ini(p, Path(p.anchor))
        groups.setdefault((ini or cwd / "alembic.ini").resolve(), []).append(p)
    if not paths:
        groups[cwd / "alembic.ini"] = []
    return groups


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="alembic-guard-precommit", description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="*", metavar="FILE", help="Revision files to report on (default: all).")
    p.add_argument("-c", "--config", help="Alembic config file (default: nearest alembic.ini).")
    p.add_argument("-n", "--name", dest="section", default="alembic")
    p.add_argument("-x", dest="x_args", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--fail-on", choices=["error", "warning", "info", "never"])
    p.add_argument("--shadow", default=None)
    p.add_argument("--shadow-url", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .check import CheckOptions, run_check
    from .errors import GuardError
    from .exit_policy import BAD_INPUT, INTERRUPTED, OK, UNSAFE, revision_fails
    from .report.text import render_text

    status = OK
    for ini, files in group_by_config(args.files, args.config).items():
        opts = CheckOptions(config_file=str(ini), section=args.section, x_args=list(args.x_args),
                            shadow=None if args.shadow in (None, "auto") else args.shadow,
                            shadow_url=args.shadow_url, fail_on=args.fail_on)
        try:
            report = run_check(opts)
        except GuardError as err:
            print(f"alembic-guard: {err.paragraph()}", file=sys.stderr)
            return BAD_INPUT
        except KeyboardInterrupt:
            print("alembic-guard: interrupted; the shadow was stopped and its files removed.", file=sys.stderr)
            return INTERRUPTED
        if files:
            wanted = set(files)
            revisions = [r for r in report.revisions if r.path and Path(r.path).resolve() in wanted]
            if not revisions:
                continue  # none of the files is a revision of this project
            report = dataclasses.replace(report, revisions=revisions)
        sys.stdout.write(render_text(report, color=sys.stdout.isatty() and not os.environ.get("NO_COLOR")))
        if any(revision_fails(report, r) for r in report.revisions):
            status = max(status, UNSAFE)
    return status


if __name__ == "__main__":
    sys.exit(main())
