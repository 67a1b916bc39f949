-- What values do file packages' route variables take (version, platform, arch, ...)? One row
-- per (event, key) from the `variables` query string, percent-decoded; `+` is a space.
CREATE OR REPLACE VIEW scarf.event_variables AS
WITH pairs AS (
    SELECT owner, event_id, event_date, package_id, unnest(string_split(variables, '&')) AS pair
    FROM scarf.package_events
    WHERE variables IS NOT NULL
)
SELECT
    owner,
    event_id,
    event_date,
    package_id,
    url_decode(replace(split_part(pair, '=', 1), '+', ' ')) AS key,
    CASE
        WHEN strpos(pair, '=') > 0
            THEN url_decode(replace(substr(pair, strpos(pair, '=') + 1), '+', ' '))
    END AS value
FROM pairs
WHERE pair <> '';
