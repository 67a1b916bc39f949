-- Can I trust a day? Per table, owner and day between the owner's first and last loaded day:
-- rows, event ids seen more than once (0 unless something is wrong: normalization drops
-- duplicates before loading, and the lake asset reports how many), rows rejected as unparsable,
-- whether the day is empty, and the share of events Scarf's confidence score puts below 0.5.
CREATE OR REPLACE VIEW scarf.data_quality AS
WITH events AS (
    SELECT 'package_events' AS table_name, owner, event_date AS day, event_id, confidence
    FROM scarf.package_events
    UNION ALL
    SELECT 'pixel_events', owner, event_date, event_id, confidence
    FROM scarf.pixel_events
    UNION ALL
    SELECT 'aggregates', owner, date, NULL, NULL
    FROM scarf.aggregates
),
per_day AS (
    SELECT
        table_name,
        owner,
        day,
        count(*) AS rows,
        count(event_id) - count(DISTINCT event_id) AS duplicate_event_ids,
        count(*) FILTER (WHERE confidence < 0.5) AS low_confidence_rows
    FROM events
    GROUP BY table_name, owner, day
),
rejected AS (
    SELECT table_name, owner, partition_date AS day, count(*) AS rejected_rows
    FROM scarf.rejected_rows
    GROUP BY table_name, owner, partition_date
),
bounds AS (
    SELECT owner, min(day) AS first_day, max(day) AS last_day
    FROM (SELECT owner, day FROM per_day UNION ALL SELECT owner, day FROM rejected)
    GROUP BY owner
),
calendar AS (
    SELECT t.table_name, b.owner, CAST(d.day AS DATE) AS day
    FROM bounds AS b
    CROSS JOIN (VALUES ('package_events'), ('pixel_events'), ('aggregates')) AS t (table_name)
    CROSS JOIN LATERAL (
        SELECT unnest(generate_series(
            CAST(b.first_day AS TIMESTAMP), CAST(b.last_day AS TIMESTAMP), INTERVAL 1 DAY
        )) AS day
    ) AS d
)
SELECT
    c.table_name,
    c.owner,
    c.day,
    coalesce(d.rows, 0) AS rows,
    coalesce(d.duplicate_event_ids, 0) AS duplicate_event_ids,
    coalesce(r.rejected_rows, 0) AS rejected_rows,
    coalesce(d.rows, 0) = 0 AS is_empty,
    CASE WHEN c.table_name <> 'aggregates' THEN coalesce(d.low_confidence_rows, 0) END
        AS low_confidence_rows,
    CASE WHEN c.table_name <> 'aggregates' THEN d.low_confidence_rows / nullif(d.rows, 0) END
        AS low_confidence_share
FROM calendar AS c
LEFT JOIN per_day AS d USING (table_name, owner, day)
LEFT JOIN rejected AS r USING (table_name, owner, day);
