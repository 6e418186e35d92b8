"""SoloDesk's benchmarks: ``python -m tests.bench`` prints one table (see ``__main__``); the
``bench_*.py`` scripts print figures of single parts."""
