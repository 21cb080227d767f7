"""Test doubles shared by the order manager's tests."""

import pytest

from alluse.execution.journal import Journal


class FillingJournal(Journal):  # a subclass: a compiled journal's methods cannot be patched
    """A journal whose disk is full while the test sets `full`."""

    full = False

    def record_order(self, *args, **kwargs):
        if self.full:
            raise OSError("database or disk is full")
        return super().record_order(*args, **kwargs)


@pytest.fixture
def filling_journal() -> type[FillingJournal]:
    return FillingJournal
