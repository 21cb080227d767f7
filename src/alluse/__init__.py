"""ALL-USE Market Integration. Importing the package first makes sure no compiled module is older
than its source (see alluse.build)."""

from alluse.build import check_sources

check_sources()
