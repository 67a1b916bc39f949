"""The `scarf-etl` command and its subcommands (load, check, status, report, demo). The top
layer: imports everything below, nothing imports it."""
