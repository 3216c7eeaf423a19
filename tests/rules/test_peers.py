"""The peer comparison (alembic_guard/rules/peers.py) names only real rules, and docs/rules/compared.md is current."""

from __future__ import annotations

from collections import Counter

import pytest

from alembic_guard.rules import all_rules
from alembic_guard.rules import docs as rule_docs
from alembic_guard.rules import peers

OUR_IDS = {r.id for r in all_rules()}
# rules found on 2026-12-02: squawk 2.63.0, strong_migrations 2.8.0 (README checks), MigrationPilot 1.6.1
FLOORS = {"squawk": 40, "strong_migrations": 24, "migrationpilot": 112}


@pytest.mark.parametrize("row", peers.PEER_RULES, ids=[f"{r.peer}:{r.peer_rule}" for r in peers.PEER_RULES])
def test_row_is_well_formed(row):
    assert row.peer in peers.PEERS
    assert row.relation in peers.RELATIONS
    assert row.peer_rule and row.summary
    unknown = set(row.ours) - OUR_IDS
    assert not unknown, f"unknown rule ids {sorted(unknown)}"
    if row.relation == "missing":
        assert row.note, "a missing rule says why"
    else:
        assert row.ours, "a mapped rule names our rule ids"
    if row.relation == "looser":
        assert row.note, "a looser rule says why"


def test_no_duplicate_peer_rule():
    dup = [k for k, n in Counter((r.peer, r.peer_rule) for r in peers.PEER_RULES).items() if n > 1]
    assert not dup


def test_every_peer_has_its_rules():
    counts = Counter(r.peer for r in peers.PEER_RULES)
    for peer, floor in FLOORS.items():
        assert counts[peer] >= floor, (peer, counts[peer])


def test_page_is_rendered_and_current():
    page = peers.compared_page()
    assert rule_docs.render()["compared.md"] == page
    assert (rule_docs.DEFAULT_DIR / "compared.md").read_text() == page
    for name, *_ in peers.PEERS.values():
        assert f"## {name}" in page
