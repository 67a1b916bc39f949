-- One event table (package_events or pixel_events; warehouse.py fills {name} from its
-- closed set). Unknown export columns are added later by ALTER TABLE.
-- event_id carries no PRIMARY KEY: the index cost more memory than the 256 MB cap at commit on
-- multi-million-row days and tripled the file. Each day's load is deduplicated on event_id
-- before it is written (normalize), and the event_id_unique check verifies it.
CREATE TABLE IF NOT EXISTS {name} (
    event_id VARCHAR NOT NULL,
    event_date DATE NOT NULL,
    package_id VARCHAR,
    type VARCHAR,
    package VARCHAR,
    pixel VARCHAR,
    version VARCHAR,
    time TIMESTAMPTZ NOT NULL,
    referer VARCHAR,
    user_agent VARCHAR,
    platform VARCHAR,
    variables VARCHAR,
    origin_id VARCHAR,
    origin_latitude DOUBLE,
    origin_longitude DOUBLE,
    origin_country VARCHAR,
    origin_city VARCHAR,
    origin_postal VARCHAR,
    origin_connection_type VARCHAR,
    origin_company VARCHAR,
    origin_domain VARCHAR,
    dnt BOOLEAN,
    confidence DOUBLE,
    endpoint_id VARCHAR,
    origin_state VARCHAR,
    mtc_quota_exceeded BOOLEAN,
    owner VARCHAR NOT NULL
);
