"""`-v`: our logging comes first; the libraries' (asyncio, matplotlib, ib_async...) only from -vv (INFO) and
-vvv (DEBUG), so a verbose run is not drowned in their chatter."""

import logging

import pytest

from alluse.cli import shown

DEBUG, INFO, WARNING = logging.DEBUG, logging.INFO, logging.WARNING
OURS = ("alluse", "alluse.oms")
THEIRS = ("asyncio", "matplotlib.font_manager", "alluse_like")  # a name that only starts like ours is not ours


def record(name: str, level: int) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, "message", None, None)


@pytest.mark.parametrize(
    "verbose,ours,theirs",
    [(0, WARNING, WARNING), (1, INFO, WARNING), (2, DEBUG, INFO), (3, DEBUG, DEBUG), (7, DEBUG, DEBUG)],
)
def test_each_v_lowers_ours_first_and_the_libraries_after(verbose, ours, theirs):
    check = shown(verbose)
    for names, lowest in ((OURS, ours), (THEIRS, theirs)):
        for name in names:
            for level in (DEBUG, INFO, WARNING, logging.ERROR):
                assert check(record(name, level)) == (level >= lowest), (name, logging.getLevelName(level))
