"""The benchmark harness: `python -m bench.run` (bench/README.md). Not part of the test suite."""

# The targets of issues 3 and 11, as the reports check them.
TARGET_RATIO = 0.80  # warm GetDevice, one worker, over the bare-aiohttp baseline (issue 3: 0.60)
STRETCH_RATIO = 0.80
TARGET_LIST_VS_GET = 0.50  # ListDevices of 60 devices over GetDevice, same pass
TARGET_SCALE_VS_WARM = 0.90  # warm GetDevice, 40,000 distinct tokens over 1,000
TARGET_BYTES_PER_USER = 1300  # Redis used_memory per active user (one device, one token)
TARGET_P99_MS = 5.0  # warm, one worker, 50 connections
TARGET_RSS_GROWTH_PCT = 5.0  # over the soak
