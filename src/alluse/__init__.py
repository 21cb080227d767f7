"""ALL-USE Market Integration. Importing the package first settles which build of the order path
runs: its sources with ALLUSE_PURE=1, else its compiled modules where installed, which must not be
older than their sources (see alluse.build)."""

from alluse.build import check_sources, pure_requested, use_sources

if pure_requested():
    use_sources()
else:
    check_sources()
