"""Scale-out: many accounts across processes and machines. PostgreSQL is the system of record, Redis Streams
the bus, one gateway per broker login holds the broker session under a fenced lease, agents run accounts.
The single-process mode (SQLite files, the in-process bus) stays the default and never imports this."""
