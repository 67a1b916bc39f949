-- How many downloads, unique origins and unique endpoints did each package have per calendar month, and
-- how many of its downloads came from CI? Months are UTC calendar months. Uniques are counted over
-- the month's raw events: a user seen on three days counts once, so they are never a sum of days.
CREATE OR REPLACE VIEW scarf.package_monthly AS
SELECT
    e.owner,
    CAST(date_trunc('month', e.event_date) AS DATE) AS month_start,
    coalesce(e.package_id, e.package) AS package_id,
    coalesce(any_value(p.name), any_value(e.package)) AS package_name,
    count(*) AS downloads,
    count(DISTINCT e.origin_id) AS unique_origins,
    count(DISTINCT e.endpoint_id) AS unique_endpoints,
    count(*) FILTER (WHERE u.is_ci) AS ci_downloads
FROM scarf.package_events AS e
LEFT JOIN scarf.user_agents AS u ON u.user_agent = e.user_agent
LEFT JOIN scarf.packages AS p ON p.uuid = e.package_id AND p.owner = e.owner
GROUP BY e.owner, month_start, coalesce(e.package_id, e.package);
