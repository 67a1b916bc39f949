-- Which companies use us, since when, how steadily over the last 90 days, and where are they in
-- the funnel? Stages follow Scarf's published ones: `interest` (documentation views only),
-- `investigation` (downloads, but in fewer than 3 of the last 90 days' weeks), `active_usage`
-- (downloads in 3 or more of those weeks), `inactive` (nothing in the last 30 days). "Last" is
-- relative to the owner's last loaded day, so the answer does not change with the clock.
-- Scarf's placeholder UNKNOWN is not a company.
-- Events are counted per company, day and kind first: the rest reads one row per company-day
-- instead of one per event (a 2.7M-event day: 0.32 s -> 0.05 s).
CREATE OR REPLACE VIEW scarf.company_activity AS
WITH days AS (
    SELECT owner, origin_company AS company, event_date, 'download' AS kind,
        max(origin_domain) AS domain, count(*) AS events
    FROM scarf.package_events
    GROUP BY ALL
    UNION ALL
    SELECT owner, origin_company, event_date, 'doc_view', max(origin_domain), count(*)
    FROM scarf.pixel_events
    GROUP BY ALL
),
latest AS (
    SELECT owner, max(event_date) AS last_day FROM days GROUP BY owner
)
SELECT
    d.owner,
    d.company,
    max(d.domain) AS domain,
    min(d.event_date) AS first_seen,
    max(d.event_date) AS last_seen,
    count(DISTINCT date_trunc('week', d.event_date)) FILTER (
        WHERE d.event_date > l.last_day - 90
    ) AS active_weeks_90d,
    CAST(coalesce(sum(d.events) FILTER (WHERE d.kind = 'download'), 0) AS BIGINT) AS downloads,
    CAST(coalesce(sum(d.events) FILTER (WHERE d.kind = 'doc_view'), 0) AS BIGINT) AS doc_views,
    CASE
        WHEN max(d.event_date) <= l.last_day - 30 THEN 'inactive'
        WHEN count(*) FILTER (WHERE d.kind = 'download') = 0 THEN 'interest'
        WHEN count(DISTINCT date_trunc('week', d.event_date)) FILTER (
            WHERE d.kind = 'download' AND d.event_date > l.last_day - 90
        ) >= 3 THEN 'active_usage'
        ELSE 'investigation'
    END AS funnel_stage
FROM days AS d
JOIN latest AS l USING (owner)
WHERE d.company IS NOT NULL AND upper(d.company) <> 'UNKNOWN'
GROUP BY d.owner, d.company, l.last_day;
