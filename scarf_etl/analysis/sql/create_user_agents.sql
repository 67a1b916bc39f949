-- One row per distinct user agent seen in the event tables, parsed once (analysis/user_agents.py).
-- A refresh parses only agents not here yet, or parsed by older rules (rules_version).
CREATE TABLE IF NOT EXISTS scarf.user_agents (
    user_agent VARCHAR NOT NULL,
    tool VARCHAR,
    tool_version VARCHAR,
    os VARCHAR,
    arch VARCHAR,
    is_ci BOOLEAN NOT NULL,
    ci_name VARCHAR,
    is_browser BOOLEAN NOT NULL,
    is_bot BOOLEAN NOT NULL,
    parsed_by VARCHAR,
    rules_version INTEGER NOT NULL
);
