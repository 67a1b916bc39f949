"""The Dagster layer, thin: assets, checks, partitions, schedules, sensors, resources. Imports
the library layers (client, normalize, store), never the commands."""
