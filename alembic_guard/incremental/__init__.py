"""Incremental checks: start from the cached schema state of an earlier check, trace only what is new.

**Key.** A hash chain (key.py): ``key_0`` hashes everything but the revision files that changes what a
trace sees (the tool's version and its trace code, Alembic/SQLAlchemy/driver versions, the server's full
version and binaries, alembic.ini, the section and ``-x`` args, env.py and every other file of the script
directory, project modules the revisions import; the extension shims are in the tool's code), then
``key_i = sha256(key_(i-1) | revision id | sha256(file bytes))``. Content only, never mtimes.
Table statistics do not enter it: they size findings at judge time, and the check seeds no rows.

**What is kept** (store.py, templates.py), per persistent cluster: after a complete, clean check, its
database (the schema state at the checked head) is renamed to the template ``agtpl_<key>`` (no copy),
and each revision's RevisionTrace is pickled under its key, *before* judgement: rules, suppressions,
baseline and statistics never invalidate a trace. Its findings are kept apart (judged.py), under the
trace key and a judgement key over every judging input (package source, server version, disabled
rules, severities, table sizes, the ``[tool.alembic-guard]`` file): a later run with the same inputs
reuses them and judges only the new revisions; any other input judges everything again.
Bounded: the newest 3 heads per project (main plus a branch or two stay warm; each template is a whole
database, ≥ 7 MB), 12 per cluster; the oldest are dropped. ``heads.json`` is the commit point, written
last under a filelock; a killed run leaves at most a database or traces without an entry, removed by the
next run that writes.

**Where it works**: only on the warm cached cluster (the ``cluster``/``local``/``embedded`` providers when
the run holds the cache's data dir, not a private copy); for ``--shadow-url``, Docker, or a concurrent
run's private copy it is off. ``--no-cache`` neither reads nor writes it.

**A run** (session.py): the template with the longest prefix up to ``--to`` is cloned
(``CREATE DATABASE … TEMPLATE``), the Runner traces only the revisions after it (``--from`` beyond it is
applied untraced as usual), and the report lists the cached traces (``"cached": true``, and a note
"N revision(s) reused from the incremental cache") before the new ones. ``--changed-since`` filters the
merged list afterwards, as before. Anything odd falls back to a full trace: a branched or merged history,
a recorded template whose database is gone (a note says so), unreadable traces, a clone that fails, a
locked store. A changed revision file changes its key and every later one, so its judgement is never
reused; a file that changes while the check runs keeps the run out of the cache.
"""

from .session import Incremental

__all__ = ["Incremental"]
