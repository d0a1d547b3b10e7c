"""Benchmarks and drills: `python3 manage.py bench NAME` runs bench/NAME.py (callbacks, drills,
throughput, tracking). The larger ones keep their parts in a package of their own: bench/drill
(drills), bench/scale (tracking), bench/updates (throughput)."""
