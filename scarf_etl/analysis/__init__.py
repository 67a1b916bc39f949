"""Answers, not just tables: parsed user agents, views for maintainers' questions, the report.

Library code: takes a DuckDB connection or a file path, knows nothing of Dagster.
"""
