"""Building blocks every layer uses: the clock, the message bus, counters and histograms, SQLite helpers
and store migrations, and what every config section is made of."""
