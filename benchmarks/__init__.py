"""Throughput and memory benchmarks (`make bench`, `python -m benchmarks.run --help`).

`run` orchestrates, `server` is the simulator in its own process with precomputed answers,
`cases` holds one measured case per function (each run in a fresh process), `dlt_source` is
the comparison with dlt's rest_api source. Never part of `make test`'s timings.
"""
