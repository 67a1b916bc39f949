-- Which companies use us, since when, how steadily over the last 90 days, and where are they in
-- the funnel? Stages follow Scarf's published ones: `interest` (documentation views only),
-- `investigation` (downloads, but in fewer than 3 of the last 90 days' weeks), `active_usage`
-- (downloads in 3 or more of those weeks), `inactive` (nothing in the last 30 days). "Last" is
-- relative to the owner's last loaded day, so the answer does not change with the clock.
-- Scarf's placeholder UNKNOWN is not a company.
CREATE OR REPLACE VIEW scarf.company_activity AS
WITH events AS (
    SELECT owner, origin_company AS company, origin_domain AS domain, event_date, 'download' AS kind
    FROM scarf.package_events
    UNION ALL
    SELECT owner, origin_company, origin_domain, event_date, 'doc_view'
    FROM scarf.pixel_events
),
latest AS (
    SELECT owner, max(event_date) AS last_day FROM events GROUP BY owner
)
SELECT
    e.owner,
    e.company,
    max(e.domain) AS domain,
    min(e.event_date) AS first_seen,
    max(e.event_date) AS last_seen,
    count(DISTINCT date_trunc('week', e.event_date)) FILTER (
        WHERE e.event_date > l.last_day - 90
    ) AS active_weeks_90d,
    count(*) FILTER (WHERE e.kind = 'download') AS downloads,
    count(*) FILTER (WHERE e.kind = 'doc_view') AS doc_views,
    CASE
        WHEN max(e.event_date) <= l.last_day - 30 THEN 'inactive'
        WHEN count(*) FILTER (WHERE e.kind = 'download') = 0 THEN 'interest'
        WHEN count(DISTINCT date_trunc('week', e.event_date)) FILTER (
            WHERE e.kind = 'download' AND e.event_date > l.last_day - 90
        ) >= 3 THEN 'active_usage'
        ELSE 'investigation'
    END AS funnel_stage
FROM events AS e
JOIN latest AS l USING (owner)
WHERE e.company IS NOT NULL AND upper(e.company) <> 'UNKNOWN'
GROUP BY e.owner, e.company, l.last_day;
