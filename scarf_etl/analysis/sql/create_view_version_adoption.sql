-- Which major.minor lines do people (not CI) download, week by week; when was each line first
-- seen, and how many days did it take to pass half of a day's non-CI downloads? A version that
-- is not numbered (`latest`) is its own line.
CREATE OR REPLACE VIEW scarf.version_adoption AS
WITH people AS (
    SELECT
        e.owner,
        coalesce(e.package_id, e.package) AS package_id,
        e.package,
        e.event_date,
        coalesce(nullif(regexp_extract(e.version, '^v?(\d+\.\d+)', 1), ''), e.version, '(none)')
            AS version_line
    FROM scarf.package_events AS e
    LEFT JOIN scarf.user_agents AS u ON u.user_agent = e.user_agent
    WHERE NOT coalesce(u.is_ci, false)
),
daily AS (
    SELECT
        owner,
        package_id,
        version_line,
        event_date,
        count(*) / sum(count(*)) OVER (PARTITION BY owner, package_id, event_date) AS day_share
    FROM people
    GROUP BY owner, package_id, version_line, event_date
),
lines AS (
    SELECT
        owner,
        package_id,
        version_line,
        min(event_date) AS first_seen,
        min(event_date) FILTER (WHERE day_share > 0.5) AS majority_day
    FROM daily
    GROUP BY owner, package_id, version_line
),
weekly AS (
    SELECT
        owner,
        package_id,
        any_value(package) AS package_name,
        CAST(date_trunc('week', event_date) AS DATE) AS week_start,
        version_line,
        count(*) AS non_ci_downloads
    FROM people
    GROUP BY owner, package_id, week_start, version_line
)
SELECT
    w.owner,
    w.week_start,
    w.package_id,
    coalesce(p.name, w.package_name) AS package_name,
    w.version_line,
    w.non_ci_downloads,
    w.non_ci_downloads / sum(w.non_ci_downloads) OVER (
        PARTITION BY w.owner, w.package_id, w.week_start
    ) AS share,
    l.first_seen,
    l.majority_day,
    date_diff('day', l.first_seen, l.majority_day) AS days_to_majority
FROM weekly AS w
JOIN lines AS l USING (owner, package_id, version_line)
LEFT JOIN scarf.packages AS p ON p.uuid = w.package_id AND p.owner = w.owner;
