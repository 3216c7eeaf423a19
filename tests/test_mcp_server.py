"""The MCP server as an agent sees it: a real MCP client (the official SDK) starts
``alembic-guard mcp`` over stdio, lists the tools and checks a dangerous revision."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from tests.projects.factory import make_project

NEW_REVISION = '''\
"""add an index"""
from alembic import op
import sqlalchemy as sa

revision = "r9"
down_revision = "r1"


def upgrade():
    op.create_index("ix_t_a", "t", ["a"])


def downgrade():
    op.drop_index("ix_t_a", table_name="t")
'''


async def _session(ini: str):
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "alembic_guard.cli", "mcp"],
                                   env={**os.environ})
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = [t.name for t in (await session.list_tools()).tools]
            checked = await session.call_tool("check_revision", {"config": ini, "source": NEW_REVISION})
            explained = await session.call_tool("explain_rule", {"rule_id": "create-index-non-concurrent"})
            return tools, checked, explained


def _payload(result) -> dict:
    if getattr(result, "structuredContent", None):
        data = result.structuredContent
        return data.get("result", data) if isinstance(data, dict) else data
    return json.loads(result.content[0].text)


def test_an_agent_lists_the_tools_and_gets_findings_for_a_dangerous_revision(tmp_path):
    ini = str(make_project(tmp_path, [("r1", 'op.execute("CREATE TABLE t (id bigint PRIMARY KEY, a int)")')],
                           env="ini_no_logging"))
    tools, checked, explained = asyncio.run(_session(ini))
    assert {"check_revision", "explain_rule", "fix_revision"} <= set(tools)
    result = _payload(checked)
    assert result.get("verdict") == "unsafe", result
    rules = {f["rule"] for f in result["findings"]}
    assert "create-index-non-concurrent" in rules
    fix = next(f["safe_form"] for f in result["findings"] if f["rule"] == "create-index-non-concurrent")
    assert "CONCURRENTLY" in fix or "concurrently" in fix
    assert "SHARE" in _payload(explained)["rationale"]
    # the user's project is untouched: the candidate was checked in a temporary copy
    assert not list((tmp_path / "migrations" / "versions").glob("ag_mcp_candidate*"))
