-- Views for everyday questions. CREATE OR REPLACE so a changed definition ships with the code.

-- Downloads per package per day, named from the packages dimension when it knows the package.
CREATE OR REPLACE VIEW scarf.downloads_per_package_per_day AS
SELECT
    e.owner,
    e.event_date,
    e.package_id,
    coalesce(p.name, e.package) AS package_name,
    count(*) AS downloads,
    count(DISTINCT e.origin_id) AS unique_origins
FROM scarf.package_events AS e
LEFT JOIN scarf.packages AS p ON p.uuid = e.package_id AND p.owner = e.owner
GROUP BY ALL;

-- Companies behind package events; Scarf's placeholder UNKNOWN is not a company.
CREATE OR REPLACE VIEW scarf.top_companies AS
SELECT
    owner,
    origin_company AS company,
    any_value(origin_domain) AS domain,
    count(*) AS events,
    count(DISTINCT package_id) AS packages,
    min(event_date) AS first_seen,
    max(event_date) AS last_seen
FROM scarf.package_events
WHERE origin_company IS NOT NULL AND upper(origin_company) <> 'UNKNOWN'
GROUP BY ALL
ORDER BY events DESC;

-- Scarf's own daily totals per artifact (the `total` breakdown of the aggregates export),
-- whichever API served them: v1 fills unique_total, v3 unique_origins / unique_endpoints and
-- also counts tracking pixels (artifact_type). Unique counts are per row: never sum them.
CREATE OR REPLACE VIEW scarf.daily_totals AS
SELECT
    a.owner,
    a.date,
    a.package AS package_id,
    coalesce(p.name, a.artifact_name) AS package_name,
    coalesce(a.artifact_type, 'package') AS artifact_type,
    a.total,
    a.unique_total,
    a.unique_origins,
    a.unique_endpoints,
    a.api_version
FROM scarf.aggregates AS a
LEFT JOIN scarf.packages AS p ON p.uuid = a.package AND p.owner = a.owner
WHERE a.breakdown = 'total';
