"""SARIF 2.1.0 report for code-scanning UIs (one result per active finding)."""

from __future__ import annotations

import json
import os

from ..model import Report

LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def render_sarif(report: Report) -> str:
    from ..rules import all_rules

    rules = {r.id: r for r in all_rules()}
    used = sorted({f.rule for f in report.findings()})
    results = []
    for f in report.findings():
        if f.suppressed:
            continue
        loc = {"physicalLocation": {"artifactLocation": {"uri": os.path.relpath(f.path) if f.path else ""}}}
        if f.line:
            loc["physicalLocation"]["region"] = {"startLine": f.line}
        text = f.message + (f"\nSafe alternative:\n{f.fix}" if f.fix else "")
        results.append({"ruleId": f.rule, "level": LEVEL.get(f.severity, "warning"),
                        "message": {"text": text}, "locations": [loc]})
    driver_rules = []
    for rid in used:
        rule = rules.get(rid)
        entry = {"id": rid, "name": rid}
        if rule:
            entry.update({"shortDescription": {"text": rule.title}, "fullDescription": {"text": rule.rationale},
                          "helpUri": rule.docs})
        driver_rules.append(entry)
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "alembic-guard", "version": report.tool_version,
                                      "informationUri": "https://pypi.org/project/alembic-guard-pg/",
                                      "rules": driver_rules}},
                  "results": results,
                  # what the trace saw: statements traced, parsed, judged by trace only, not seen
                  "properties": {"coverage": report.coverage(), "transactionMode": report.transaction_mode,
                                 "revisions": {r.revision: {"verdict": r.verdict, "coverage": r.coverage()}
                                               for r in report.revisions}}}],
    }
    return json.dumps(doc, indent=2) + "\n"
