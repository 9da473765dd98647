"""Reference servers the benchmarks compare our server with (`python -m bench.refs.NAME`)."""
