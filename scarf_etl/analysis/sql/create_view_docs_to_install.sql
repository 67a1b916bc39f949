-- Do companies read the docs before they install, and how long after? Per company: its first
-- documentation view, its first download and the lag between them in days (negative: it
-- downloaded first). A company seen on one side only has a NULL lag.
CREATE OR REPLACE VIEW scarf.docs_to_install AS
WITH docs AS (
    SELECT owner, origin_company AS company, min(time) AS first_doc_view
    FROM scarf.pixel_events
    WHERE origin_company IS NOT NULL AND upper(origin_company) <> 'UNKNOWN'
    GROUP BY owner, origin_company
),
downloads AS (
    SELECT owner, origin_company AS company, min(time) AS first_download
    FROM scarf.package_events
    WHERE origin_company IS NOT NULL AND upper(origin_company) <> 'UNKNOWN'
    GROUP BY owner, origin_company
)
SELECT
    owner,
    company,
    first_doc_view,
    first_download,
    epoch(first_download - first_doc_view) / 86400.0 AS lag_days,
    first_doc_view < first_download AS docs_first
FROM docs
FULL OUTER JOIN downloads USING (owner, company);
