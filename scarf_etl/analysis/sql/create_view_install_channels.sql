-- Which tools install our packages, per ecosystem (the package's library type) and week: pip or
-- uv, npm or pnpm, docker or containerd, a browser or curl? `share` is the tool's part of the
-- ecosystem's downloads that week.
CREATE OR REPLACE VIEW scarf.install_channels AS
SELECT
    e.owner,
    coalesce(p.library_type, 'unknown') AS ecosystem,
    CAST(date_trunc('week', e.event_date) AS DATE) AS week_start,
    coalesce(u.tool, 'unknown') AS tool,
    count(*) AS downloads,
    count(*) FILTER (WHERE u.is_ci) AS ci_downloads,
    count(*) / sum(count(*)) OVER (PARTITION BY e.owner, ecosystem, week_start) AS share
FROM scarf.package_events AS e
LEFT JOIN scarf.user_agents AS u ON u.user_agent = e.user_agent
LEFT JOIN scarf.packages AS p ON p.uuid = e.package_id AND p.owner = e.owner
GROUP BY e.owner, ecosystem, week_start, tool;
