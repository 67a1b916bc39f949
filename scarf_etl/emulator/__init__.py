"""A local Scarf API: every v1 endpoint plus the v2 event exports, with deterministic data.

Start it with `server.EmulatorServer` (tests, demo) or `server.serve_forever`
(`scarf-etl emulator`). Fault knobs live in `faults.Faults`; the seeded world in `world`.
"""
