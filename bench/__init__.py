"""The benchmark harness: `python -m bench.run` (bench/README.md). Not part of the test suite."""

# The targets of issue 3, as the reports check them.
TARGET_RATIO = 0.60  # warm GetDevice, one worker, over the bare-aiohttp baseline
STRETCH_RATIO = 0.70
TARGET_P99_MS = 5.0  # warm, one worker, 50 connections
TARGET_RSS_GROWTH_PCT = 5.0  # over the soak
