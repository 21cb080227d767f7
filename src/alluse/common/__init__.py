"""Building blocks every layer uses: the clock, the message bus, counters and histograms, SQLite helpers."""
