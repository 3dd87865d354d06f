"""Benchmarks: each ``bench_*.py`` module has ``main()`` printing one report section."""
