"""What the trace could not see, found by comparing what it measured with what it explained.

Pure functions over catalog snapshots (``{oid: Relation}``, trace/catalog.py) and lock sets; each
returns the reasons to add to ``RevisionTrace.unseen`` (any makes the verdict "unknown").
"""

from __future__ import annotations

from ..locks import blocks_traffic
from ..model import Observation, Relation

RAW_CURSOR = "(a raw DBAPI cursor?)"


def schema_changes(last: dict[int, Relation], now: dict[int, Relation], ignore: set[str],
                   differing: list[int] | None = None) -> list[str]:
    """Relations that appeared, disappeared or got a new file between two snapshots with no traced
    statement between them: a statement ran where the trace cannot see it. ``differing``: the OIDs
    whose Relation differs between the two, when known (``Snapshots.changed``): only those are looked at."""
    if differing is not None:
        gone = last.keys() - now.keys()
        if not differing and not gone:
            return []
        last = {oid: last[oid] for oid in [*differing, *gone] if oid in last}
        now = {oid: now[oid] for oid in differing if oid in now}
    changed = sorted({r.qualified for oid, r in now.items() if oid not in last and r.qualified not in ignore}
                     | {r.qualified for oid, r in last.items() if oid not in now and r.qualified not in ignore}
                     | {r.qualified for oid, r in now.items() if oid in last and r.relfilenode
                        and last[oid].relfilenode and r.relfilenode != last[oid].relfilenode})
    if not changed:
        return []
    return ["the schema changed outside the traced statements (" + ", ".join(changed[:5])
            + (", …" if len(changed) > 5 else "") + "): a statement ran where the trace cannot see it"]


def unexplained_work(last: dict[int, Relation], now: dict[int, Relation], held: set[tuple[int, str]],
                     known: set[tuple[int, str]], ignore: set[str]) -> list[str]:
    """Inside one transaction: write-blocking locks ``(oid, mode)`` held now that no traced statement
    took (``known``), and tables scanned or written (``pg_stat_xact_user_tables``) since ``last``."""
    out = []
    locked = sorted({now[oid].qualified for oid, mode in held
                     if oid in last and oid in now and (oid, mode) not in known
                     and blocks_traffic(mode, now[oid].kind)
                     and now[oid].qualified not in ignore})
    if locked:
        out.append(f"write-blocking locks on {', '.join(locked[:5])} were taken outside the traced statements "
                   + RAW_CURSOR)
    worked = sorted({r.qualified for oid, r in now.items() if oid in last and r.qualified not in ignore
                     and (r.seq_scan > last[oid].seq_scan or r.n_mod > last[oid].n_mod)})
    if worked:
        out.append(f"{', '.join(worked[:5])} was scanned or written outside the traced statements " + RAW_CURSOR)
    return out


def sampling_misses(obs: Observation, seen: set[tuple[int, str]], names: dict[int, Relation],
                    line: int | None) -> list[str]:
    """A statement cannot read or rewrite a table without a lock on it: when the sampler caught none
    on a table a sampled statement worked on, it ran between two samples, and its locks are unknown."""
    worked = set(obs.scanned_oids) | set(obs.rewritten_oids) | set(obs.built_oids)
    locked = {oid for oid, _mode in seen}
    locked |= {names[oid].table_oid for oid in locked if oid in names and names[oid].table_oid}
    missed = sorted(obs.names.get(oid, str(oid)) for oid in worked - locked)
    if not missed:
        return []
    return [f"line {line}: outside a transaction block, the statement's locks on {', '.join(missed)} ended "
            "before the sampler could read them"]
