-- The warehouse's tables. Idempotent: run before every load.
-- The two event tables share one definition: create_event_table.sql.
-- Unknown export columns are added later by ALTER TABLE (see warehouse.py).
CREATE SCHEMA IF NOT EXISTS scarf;

CREATE TABLE IF NOT EXISTS scarf.aggregates (
    date DATE NOT NULL,
    package VARCHAR NOT NULL,
    breakdown VARCHAR NOT NULL,
    total BIGINT NOT NULL,
    unique_total BIGINT,
    unique_origins BIGINT,
    unique_endpoints BIGINT,
    artifact_type VARCHAR,
    artifact_name VARCHAR,
    api_version VARCHAR,
    company_name VARCHAR,
    company_domain VARCHAR,
    cloud_provider_name VARCHAR,
    cloud_provider_domain VARCHAR,
    country VARCHAR,
    platform VARCHAR,
    version VARCHAR,
    client VARCHAR,
    client_version VARCHAR,
    variable VARCHAR,
    value VARCHAR,
    owner VARCHAR NOT NULL
);
-- Warehouses created before v3 aggregates get the columns too; their old rows (all from v1)
-- keep NULL there until the day is re-loaded.
ALTER TABLE scarf.aggregates ADD COLUMN IF NOT EXISTS unique_origins BIGINT;
ALTER TABLE scarf.aggregates ADD COLUMN IF NOT EXISTS unique_endpoints BIGINT;
ALTER TABLE scarf.aggregates ADD COLUMN IF NOT EXISTS artifact_type VARCHAR;
ALTER TABLE scarf.aggregates ADD COLUMN IF NOT EXISTS artifact_name VARCHAR;
ALTER TABLE scarf.aggregates ADD COLUMN IF NOT EXISTS api_version VARCHAR;

-- One row per (table, day, owner) ever loaded, written in the load's transaction: tells an
-- empty day (rows = 0) from a day never loaded (no row), for `scarf-etl status`.
CREATE TABLE IF NOT EXISTS scarf.loaded_days (
    table_name VARCHAR NOT NULL,
    day DATE NOT NULL,
    owner VARCHAR NOT NULL,
    rows BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

-- The warehouse's schema version; warehouse.py migrates older files when a step opens them.
CREATE TABLE IF NOT EXISTS scarf.schema_version (
    version INTEGER NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

CREATE TABLE IF NOT EXISTS scarf.rejected_rows (
    table_name VARCHAR NOT NULL,
    partition_date DATE NOT NULL,
    owner VARCHAR NOT NULL,
    source_file VARCHAR,
    line_number BIGINT,
    reason VARCHAR NOT NULL,
    raw_line VARCHAR,
    rejected_at TIMESTAMPTZ DEFAULT current_timestamp
);

-- Dimensions: replaced per owner on each refresh; new client fields become new columns.
CREATE TABLE IF NOT EXISTS scarf.organizations (
    name VARCHAR,
    description VARCHAR,
    website VARCHAR,
    billing_email VARCHAR,
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ,
    owner VARCHAR NOT NULL,
    refreshed_at TIMESTAMPTZ
);

CREATE TABLE IF NOT EXISTS scarf.organization_members (
    organization_name VARCHAR,
    username VARCHAR,
    role VARCHAR,
    owner VARCHAR NOT NULL,
    refreshed_at TIMESTAMPTZ
);

CREATE TABLE IF NOT EXISTS scarf.packages (
    uuid VARCHAR,
    owner VARCHAR NOT NULL,
    name VARCHAR,
    short_description VARCHAR,
    long_description VARCHAR,
    website VARCHAR,
    library_type VARCHAR,
    created_at TIMESTAMPTZ,
    refreshed_at TIMESTAMPTZ
);

CREATE TABLE IF NOT EXISTS scarf.package_permissions (
    package_id VARCHAR,
    username VARCHAR,
    permission_level VARCHAR,
    owner VARCHAR NOT NULL,
    refreshed_at TIMESTAMPTZ
);

CREATE TABLE IF NOT EXISTS scarf.package_routes (
    package_id VARCHAR,
    id VARCHAR,
    outgoing_url VARCHAR,
    template_path VARCHAR,
    owner VARCHAR NOT NULL,
    refreshed_at TIMESTAMPTZ
);

CREATE TABLE IF NOT EXISTS scarf.package_domains (
    package_id VARCHAR,
    id VARCHAR,
    name VARCHAR,
    owner VARCHAR NOT NULL,
    refreshed_at TIMESTAMPTZ
);
