-- How many downloads, unique origins and unique endpoints did each package have per week, and
-- how many of its downloads came from CI? Weeks start on Monday (UTC). Uniques are counted over
-- the week's raw events: a user seen on three days counts once, so they are never a sum of days.
CREATE OR REPLACE VIEW scarf.package_weekly AS
SELECT
    e.owner,
    CAST(date_trunc('week', e.event_date) AS DATE) AS week_start,
    coalesce(e.package_id, e.package) AS package_id,
    coalesce(any_value(p.name), any_value(e.package)) AS package_name,
    count(*) AS downloads,
    count(DISTINCT e.origin_id) AS unique_origins,
    count(DISTINCT e.endpoint_id) AS unique_endpoints,
    count(*) FILTER (WHERE u.is_ci) AS ci_downloads
FROM scarf.package_events AS e
LEFT JOIN scarf.user_agents AS u ON u.user_agent = e.user_agent
LEFT JOIN scarf.packages AS p ON p.uuid = e.package_id AND p.owner = e.owner
GROUP BY e.owner, week_start, coalesce(e.package_id, e.package);
