"""Where data lives: raw files as the API sent them, the parquet lake, the DuckDB warehouse
(and its SQL). No Dagster here; imports the client, normalize and the shared declarations."""
