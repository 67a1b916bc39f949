"""Keep scarf.user_agents in step with the event tables: parse only agents not seen yet (or
parsed by older rules), so a day's refresh costs its new agents, not the whole history."""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from scarf_etl.analysis.user_agents import RULES_VERSION, parse_user_agent

_UNPARSED_AGENTS = """
SELECT DISTINCT a.user_agent
FROM (
    SELECT user_agent FROM scarf.package_events
    UNION
    SELECT user_agent FROM scarf.pixel_events
) AS a
WHERE a.user_agent IS NOT NULL
  AND NOT EXISTS (
    SELECT 1 FROM scarf.user_agents AS u
    WHERE u.user_agent = a.user_agent AND u.rules_version = ?
  )
"""


@dataclass(frozen=True)
class AgentRefresh:
    """What one refresh did: agents parsed (new or re-parsed) and the seconds parsing took."""

    parsed: int
    total: int
    parse_seconds: float

    @property
    def agents_per_second(self) -> float:
        return self.parsed / self.parse_seconds if self.parse_seconds > 0 else 0.0


def refresh_user_agents(connection: duckdb.DuckDBPyConnection) -> AgentRefresh:
    """Parse the agents scarf.user_agents lacks and write them, replacing rows parsed by older
    rules. Run inside the caller's transaction (Warehouse.transaction)."""
    agents = [
        str(row[0]) for row in connection.execute(_UNPARSED_AGENTS, [RULES_VERSION]).fetchall()
    ]
    started = time.perf_counter()
    parsed = [parse_user_agent(agent) for agent in agents]
    parse_seconds = time.perf_counter() - started
    if parsed:
        incoming = pa.table(
            {
                "user_agent": [p.user_agent for p in parsed],
                "tool": [p.tool for p in parsed],
                "tool_version": [p.tool_version for p in parsed],
                "os": [p.os for p in parsed],
                "arch": [p.arch for p in parsed],
                "is_ci": [p.is_ci for p in parsed],
                "ci_name": [p.ci_name for p in parsed],
                "is_browser": [p.is_browser for p in parsed],
                "is_bot": [p.is_bot for p in parsed],
                "parsed_by": [p.parsed_by for p in parsed],
                "rules_version": pa.array([RULES_VERSION] * len(parsed), pa.int32()),
            },
        )
        connection.register("incoming_agents", incoming)
        try:
            connection.execute(
                "DELETE FROM scarf.user_agents WHERE user_agent IN "
                "(SELECT user_agent FROM incoming_agents)"
            )
            connection.execute(
                "INSERT INTO scarf.user_agents BY NAME SELECT * FROM incoming_agents"
            )
        finally:
            connection.unregister("incoming_agents")
    total = connection.execute("SELECT count(*) FROM scarf.user_agents").fetchone()
    return AgentRefresh(
        parsed=len(parsed), total=int(total[0]) if total else 0, parse_seconds=parse_seconds
    )
