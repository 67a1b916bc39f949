-- Where are our users, week by week? Downloads and documentation views per country (ISO code;
-- `unknown` when Scarf could not place the origin), and unique downloading origins counted over
-- the week's raw events.
CREATE OR REPLACE VIEW scarf.geography AS
WITH events AS (
    SELECT owner, event_date, origin_country, origin_id, 'download' AS kind
    FROM scarf.package_events
    UNION ALL
    SELECT owner, event_date, origin_country, origin_id, 'doc_view'
    FROM scarf.pixel_events
)
SELECT
    owner,
    CAST(date_trunc('week', event_date) AS DATE) AS week_start,
    coalesce(origin_country, 'unknown') AS country,
    count(*) FILTER (WHERE kind = 'download') AS downloads,
    count(*) FILTER (WHERE kind = 'doc_view') AS doc_views,
    count(DISTINCT origin_id) FILTER (WHERE kind = 'download') AS unique_origins
FROM events
GROUP BY owner, week_start, country;
