"""Which build of the order path the suite runs against (see alluse.build and the Makefile)."""

import alluse.build


def pytest_report_header() -> str:
    return f"alluse: {alluse.build.describe()}"
