import sqlite3
from decimal import Decimal

import pytest

from alluse.execution import fsm
from alluse.execution.intent_log import PREAMBLE, IntentLog, IntentLogBusy, log_path, read_records
from alluse.execution.journal import SCHEMA_VERSION, Journal, JournalError
from alluse.model import Fill, Order, OrderStatus, Side


def make_order(coid="C1"):
    return Order(coid, "Gen-Acc", "AAPL", Side.BUY, 10, limit_price=Decimal("100.00"), ts_created=5, tag="t")


def test_orders_fills_and_deposits_round_trip(tmp_path):
    path = tmp_path / "j.db"
    j = Journal(path)
    assert j.start_session(1) == 1
    j.record_deposit("Gen-Acc", Decimal("1000.50"), 1)
    o = make_order()
    fsm.apply(o, fsm.Trigger.SUBMIT, 2)
    j.record_order(o, "SUBMIT", 2)
    f = Fill("C1", "Gen-Acc", "AAPL", Side.BUY, 4, Decimal("99.99"), Decimal("1.00"), 3, "F1")
    fsm.apply(o, fsm.Trigger.FILL, 3, fill=f)
    j.record_order(o, "FILL", 3, fill=f)
    j.close()

    j2 = Journal(path)
    state = j2.load()
    assert state.sessions == 1 and j2.start_session(9) == 2
    got = state.orders["C1"]
    assert got.status is OrderStatus.PARTIALLY_FILLED and got.filled_qty == 4
    assert got.limit_price == Decimal("100.00") and got.tag == "t" and got.avg_fill_price == Decimal("99.99")
    assert state.fills == [f]
    assert state.deposits == {"Gen-Acc": Decimal("1000.50")}
    kinds = [e["kind"] for e in j2.events("C1")]
    assert kinds == ["SUBMIT", "FILL"]
    assert j2.schema_version() == SCHEMA_VERSION
    assert j2.last_event_ts() == 9


def test_wal_mode(tmp_path):
    Journal(tmp_path / "j.db").close()
    db = sqlite3.connect(tmp_path / "j.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_failed_write_leaves_nothing_half_written(tmp_path):
    j = Journal(tmp_path / "j.db")
    o = make_order()
    j.record_order(o, "SUBMIT", 1)
    f = Fill("C1", "Gen-Acc", "AAPL", Side.BUY, 1, Decimal("1"), Decimal("1"), 2, "F1")
    j.record_order(o, "FILL", 2, fill=f)
    with pytest.raises(sqlite3.IntegrityError):  # same fill id again: the whole event is rolled back
        j.record_order(o, "FILL", 3, fill=f)
    assert [e["kind"] for e in j.events()] == ["SUBMIT", "FILL"]


def test_not_a_sqlite_file_is_refused_untouched(tmp_path):
    path = tmp_path / "journal.db"
    path.write_bytes(b"this is not a database\n" * 10)
    before = path.read_bytes()
    with pytest.raises(JournalError, match="not a SQLite database"):
        Journal(path)
    assert path.read_bytes() == before
    assert not (tmp_path / "journal.db-wal").exists()


def test_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "journal.db"
    Journal(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    db.commit()
    db.execute("PRAGMA journal_mode=DELETE")
    db.close()
    before = path.read_bytes()
    with pytest.raises(JournalError, match=f"schema version {SCHEMA_VERSION + 1} is newer"):
        Journal(path)
    assert path.read_bytes() == before


def test_foreign_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE x (a)")
    db.commit()
    db.close()
    with pytest.raises(JournalError, match="not an alluse journal"):
        Journal(path)


def test_readonly_open_of_missing_file(tmp_path):
    with pytest.raises(JournalError, match="no such file"):
        Journal(tmp_path / "missing.db", readonly=True)
    assert not (tmp_path / "missing.db").exists()


def _journal_with_orders(path, n=200):
    j = Journal(path)
    for i in range(n):
        j.record_order(make_order(f"C{i}"), "SUBMIT", i)
    j.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("PRAGMA journal_mode=DELETE")  # everything in the main file, no -wal beside it
    db.close()


def test_truncated_journal_is_refused_untouched(tmp_path):
    path = tmp_path / "journal.db"
    _journal_with_orders(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = path.read_bytes()
    with pytest.raises(JournalError, match="file left untouched"):
        Journal(path)
    assert path.read_bytes() == before


def test_corrupt_journal_is_refused_untouched(tmp_path):
    path = tmp_path / "journal.db"
    _journal_with_orders(path)
    data = bytearray(path.read_bytes())
    for page in range(1, len(data) // 4096):  # break every b-tree page header after the first page
        data[page * 4096] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match="file left untouched"):
        Journal(path)
    assert path.read_bytes() == bytes(data)


def test_trading_states_round_trip_and_changes_follow_by_sequence(tmp_path):
    j = Journal(tmp_path / "j.db")
    first = j.record_trading_state("Gen-Acc", "HALTED", "daily loss", "risk", 1)
    j.record_trading_state("Rev-Acc", "REDUCING", "operator", "cli", 2)
    assert j.trading_states() == {
        "Gen-Acc": ("HALTED", "daily loss", "risk"),
        "Rev-Acc": ("REDUCING", "operator", "cli"),
    }
    changes = j.trading_state_changes(first)
    assert [(a, s) for _, a, s, _ in changes] == [("Rev-Acc", "REDUCING")]


def test_disk_full_refuses_the_write_and_keeps_what_was_there(tmp_path):
    j = Journal(tmp_path / "j.db", intent_log=False)  # a commit per intent: the failure shows at once
    j.record_order(make_order("C0"), "SUBMIT", 1)
    pages = j._db.execute("PRAGMA page_count").fetchone()[0]
    j._db.execute(f"PRAGMA max_page_count={pages}")  # the disk is now full
    with pytest.raises(sqlite3.OperationalError, match="full"):
        for i in range(1, 500):
            j.record_order(make_order(f"C{i}"), "SUBMIT", i)
    ids = set(j.load().orders)
    assert "C0" in ids and all(len(j.events(c)) == 1 for c in ids)  # no half-written event


# ---------------------------------------------------------------------------- group commit


def committed(path, sql="SELECT kind FROM events WHERE client_order_id IS NOT NULL ORDER BY seq"):
    """What another process reading the file sees: committed rows only."""
    db = sqlite3.connect(path)
    try:
        return [r[0] for r in db.execute(sql)]
    finally:
        db.close()


def submitted(j, coid="C1", ts=2, detail=""):
    """An order journaled as sent: an intent, committed at once."""
    o = make_order(coid)
    fsm.apply(o, fsm.Trigger.SUBMIT, ts)
    j.record_order(o, "SUBMIT", ts, detail=detail)
    return o


def ack_and_fill(j, o):
    fsm.apply(o, fsm.Trigger.ACCEPT, 3)
    j.record_order(o, "ACCEPT", 3, intent=False)
    f = Fill("C1", "Gen-Acc", "AAPL", Side.BUY, 10, Decimal("99.99"), Decimal("1.00"), 4, "F1")
    fsm.apply(o, fsm.Trigger.FILL, 4, fill=f)
    j.record_order(o, "FILL", 4, fill=f, intent=False)


def test_without_the_intent_log_an_intent_is_committed_at_once_and_broker_events_ride_with_the_next(tmp_path):
    path = tmp_path / "j.db"
    j = Journal(path, intent_log=False)
    o = submitted(j)
    assert committed(path) == ["SUBMIT"]  # journal before send
    writes = j.writes
    ack_and_fill(j, o)
    assert committed(path) == ["SUBMIT"] and j.pending == 4  # 2 events, 1 fill, 1 order row (coalesced)
    o2 = make_order("C2")
    fsm.apply(o2, fsm.Trigger.SUBMIT, 5)
    j.record_order(o2, "SUBMIT", 5)  # the next intent takes them along, in one transaction
    assert j.writes == writes + 1 and j.pending == 0
    assert committed(path) == ["SUBMIT", "ACCEPT", "FILL", "SUBMIT"]
    assert committed(path, "SELECT status, filled_qty FROM orders WHERE client_order_id = 'C1'") == ["FILLED"]
    assert committed(path, "SELECT fill_id FROM fills") == ["F1"]
    j.close()


def test_flush_and_close_commit_what_waits_and_reads_see_it(tmp_path):
    path = tmp_path / "j.db"
    j = Journal(path)
    o = submitted(j)
    ack_and_fill(j, o)
    j.flush()
    assert j.pending == 0 and committed(path) == ["SUBMIT", "ACCEPT", "FILL"]
    ack = submitted(j, "C3", 6)
    fsm.apply(ack, fsm.Trigger.ACCEPT, 7)
    j.record_order(ack, "ACCEPT", 7, intent=False)
    assert [e["kind"] for e in j.events("C3")] == ["SUBMIT", "ACCEPT"]  # a read commits first
    fsm.apply(ack, fsm.Trigger.CANCEL_REQUEST, 8)
    fsm.apply(ack, fsm.Trigger.CANCELED, 9)
    j.record_order(ack, "CANCELED", 9, intent=False)
    j.close()
    assert committed(path, "SELECT status FROM orders WHERE client_order_id = 'C3'") == ["CANCELED"]


def test_without_group_commit_every_event_is_its_own_transaction(tmp_path):
    path = tmp_path / "j.db"
    j = Journal(path, group_commit=False)
    o = submitted(j)
    ack_and_fill(j, o)
    assert j.pending == 0 and j.writes == 3
    assert committed(path) == ["SUBMIT", "ACCEPT", "FILL"]
    j.close()


def test_a_failed_commit_writes_nothing_and_keeps_the_waiting_events(tmp_path):
    path = tmp_path / "j.db"
    j = Journal(path, intent_log=False)
    o = submitted(j)
    ack_and_fill(j, o)
    dup = make_order("C2")
    fsm.apply(dup, fsm.Trigger.SUBMIT, 5)
    bad = Fill("C2", "Gen-Acc", "AAPL", Side.BUY, 1, Decimal("1"), Decimal("0"), 5, "F1")  # fill id F1 again
    with pytest.raises(sqlite3.IntegrityError):
        j.record_order(dup, "SUBMIT", 5, fill=bad)
    assert committed(path) == ["SUBMIT"] and j.pending == 4  # all or nothing, and nothing forgotten
    j.flush()
    assert committed(path) == ["SUBMIT", "ACCEPT", "FILL"]
    j.close()


def test_checkpoints_run_off_the_writer_so_the_wal_is_copied_back(tmp_path, monkeypatch):
    import time

    from alluse.execution import journal as journal_module

    monkeypatch.setattr(journal_module, "CHECKPOINT_EVERY_S", 0.01)
    path = tmp_path / "j.db"
    j = Journal(path, intent_log=False)
    assert j._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0  # never inside a commit
    size = path.stat().st_size
    for i in range(300):
        submitted(j, f"C{i}", i, detail="x" * 200)
    deadline = time.monotonic() + 5
    while path.stat().st_size == size and time.monotonic() < deadline:
        time.sleep(0.01)  # waiting for the checkpoint thread, not standing in for work
    assert path.stat().st_size > size  # pages reached the database file without any commit copying them
    j.close()
    plain = Journal(path, background_checkpoint=False)
    assert plain._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] > 0  # SQLite's own, inside commits
    plain.close()


def test_a_writer_that_never_pauses_still_gets_its_wal_started_over(tmp_path, monkeypatch):
    """A passive checkpoint alone never catches a writer that commits back to back, and the WAL would
    grow without end (a sustained burst wrote 1.3 GB in 8 s); past RESTART_FRAMES it is started over."""
    from alluse.execution import journal as journal_module

    def back_to_back(path, commits=6000):
        j = Journal(path, intent_log=False)  # a commit per intent, back to back
        for i in range(commits):
            submitted(j, f"C{i}", i, detail="x" * 200)
        restarts = j._checkpointer.restarts
        wal = path.with_name(path.name + "-wal").stat().st_size
        j.close()
        return restarts, wal

    monkeypatch.setattr(journal_module, "CHECKPOINT_EVERY_S", 3600.0)
    _, unchecked = back_to_back(tmp_path / "none.db")  # no checkpoint at all: every commit appends
    monkeypatch.setattr(journal_module, "CHECKPOINT_EVERY_S", 0.005)
    monkeypatch.setattr(journal_module, "RESTART_FRAMES", 100)
    restarts, wal = back_to_back(tmp_path / "j.db")
    # started over (the property), so smaller than never checkpointed; how much smaller depends on when the
    # checkpoint thread got the CPU (a loaded CI machine: 2 restarts in 6,000 commits, 82 MB against 110 MB)
    assert restarts > 0 and wal < unchecked
    reader = Journal(tmp_path / "j.db", readonly=True)
    assert len(reader.load().orders) == 6000  # nothing lost on the way
    reader.close()


def test_close_stops_the_checkpoint_thread_even_when_the_last_commit_fails(tmp_path, caplog):
    j = Journal(tmp_path / "j.db")
    thread = j._checkpointer._ckpt_thread
    o = submitted(j)
    ack_and_fill(j, o)
    j._db.execute("PRAGMA query_only=ON")  # the file became read-only under us
    with caplog.at_level("ERROR", logger="alluse.journal"):
        j.close()
    assert "5 records not committed at close" in caplog.text
    assert not thread.is_alive()
    assert committed(tmp_path / "j.db") == []
    # the intent stays in its log for the next open to commit; reconciliation books the broker events
    assert [r.fields[1] for r in read_records(log_path(tmp_path / "j.db"))] == ["SUBMIT"]


def test_every_read_of_broker_data_commits_the_waiting_events_first(tmp_path):
    j = Journal(tmp_path / "j.db")
    o = submitted(j)
    fsm.apply(o, fsm.Trigger.ACCEPT, 3)
    j.record_order(o, "ACCEPT", 3, intent=False)
    assert j.last_event_ts() == 3 and j.pending == 0
    f = Fill("C1", "Gen-Acc", "AAPL", Side.BUY, 10, Decimal("99.99"), Decimal("1.00"), 4, "F1")
    fsm.apply(o, fsm.Trigger.FILL, 4, fill=f)
    j.record_order(o, "FILL", 4, fill=f, intent=False)
    state = j.load()
    assert j.pending == 0 and state.fills == [f] and state.orders["C1"].status is OrderStatus.FILLED
    j.close()


def test_another_process_writing_while_events_wait_loses_nothing(tmp_path):
    """`alluse halt` commits a trading state from its own process while broker events wait in ours."""
    path = tmp_path / "j.db"
    j = Journal(path)
    o = submitted(j)
    fsm.apply(o, fsm.Trigger.ACCEPT, 3)
    j.record_order(o, "ACCEPT", 3, intent=False)
    other = Journal(path, intent_log=False)  # as `alluse halt` opens it
    seq = other.record_trading_state("Gen-Acc", "HALTED", "operator stop", "cli", 3)
    other.close()
    assert [(s, state) for s, _, state, _ in j.trading_state_changes(0)] == [(seq, "HALTED")]
    j.flush()
    # the other process cannot take this one's intent log (it commits its own intent directly) and the
    # intent, durable in the log before, is committed after it
    assert [e["kind"] for e in j.events()] == ["TRADING_STATE", "SUBMIT", "ACCEPT"]
    assert j.load().orders["C1"].status is OrderStatus.ACCEPTED
    j.close()


def test_a_reader_holding_an_old_snapshot_never_makes_the_writer_wait_for_a_restart(tmp_path, monkeypatch):
    """A RESTART holds writers back until readers let go; while another process reads an old snapshot
    the passive pass cannot finish, and no RESTART is tried (here it would stall a commit 200 ms). Counted, not
    timed: on a loaded machine a commit can take 200 ms without any RESTART (a CI run saw 229 ms)."""
    import time

    from alluse.execution import journal as journal_module

    monkeypatch.setattr(journal_module, "CHECKPOINT_EVERY_S", 0.005)
    monkeypatch.setattr(journal_module, "RESTART_FRAMES", 10)
    monkeypatch.setattr(journal_module, "RESTART_WAIT_MS", 200)
    path = tmp_path / "j.db"
    j = Journal(path, intent_log=False)

    def submit(i):
        submitted(j, f"C{i}", i)

    for i in range(20):
        submit(i)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM events").fetchone()  # holds its snapshot until COMMIT
    for i in range(20, 320):
        submit(i)
        time.sleep(0.001)
        assert j._checkpointer.restarts == 0, i  # never while the reader holds its snapshot
    reader.execute("COMMIT")
    reader.close()
    deadline = time.monotonic() + 5
    i = 320
    while j._checkpointer.restarts == 0 and time.monotonic() < deadline:
        submit(i)
        i += 1
        time.sleep(0.001)
    assert j._checkpointer.restarts > 0  # the reader is gone: the WAL is started over again
    j.close()


# ---------------------------------------------------------------------------- intent log


def test_an_intent_is_durable_in_the_log_and_committed_with_the_broker_events_in_one_transaction(tmp_path):
    path = tmp_path / "j.db"
    j = Journal(path)
    o = submitted(j)
    assert committed(path) == [] and [r.lsn for r in read_records(log_path(path))] == [1]
    reader = Journal(path, readonly=True)  # another process sees the order sent, from the log
    assert reader.load().orders["C1"].status is OrderStatus.SUBMITTED
    reader.close()
    writes = j.writes
    ack_and_fill(j, o)
    j.flush()
    assert j.writes == writes + 1 and j.pending == 0
    assert committed(path) == ["SUBMIT", "ACCEPT", "FILL"]
    assert committed(path, "SELECT value FROM meta WHERE key = 'intent_lsn'") == ["1"]
    assert read_records(log_path(path)) == []  # committed: the log starts over
    j.close()


def crash_after_intents(path, n, prefix="C"):
    """A process that journals `n` intents and dies without a commit (kill -9 at the worst moment)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(f"""
        import os
        from decimal import Decimal
        from alluse.execution import fsm
        from alluse.execution.journal import Journal
        from alluse.model import Order, Side
        j = Journal({str(path)!r})
        for i in range({n}):
            o = Order(f"{prefix}{{i}}", "Gen-Acc", "AAPL", Side.BUY, 10, limit_price=Decimal("100.00"), ts_created=5)
            fsm.apply(o, fsm.Trigger.SUBMIT, 5 + i)
            j.record_order(o, "SUBMIT", 5 + i)
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_restart_commits_the_intents_a_crashed_process_left_in_its_log_once(tmp_path):
    path = tmp_path / "j.db"
    crash_after_intents(path, 5)
    assert committed(path) == [] and len(read_records(log_path(path))) == 5
    j = Journal(path)
    assert j.replayed == 5 and read_records(log_path(path)) == []
    assert list(j.load().orders) == [f"C{i}" for i in range(5)]
    j.close()
    again = Journal(path)  # a second start replays nothing twice
    assert again.replayed == 0 and committed(path) == ["SUBMIT"] * 5
    again.close()


def test_a_torn_last_record_is_ignored_and_the_whole_ones_before_it_are_kept(tmp_path):
    path = tmp_path / "j.db"
    crash_after_intents(path, 3)
    log_file = log_path(path)
    data = bytearray(log_file.read_bytes())
    third = PREAMBLE
    for _ in range(2):  # after the preamble, frames: <length u32><crc32 u32><payload>
        third += 8 + int.from_bytes(data[third : third + 4], "little")
    data[third + 12] ^= 0xFF  # a power loss in the middle of the last write: its bytes are not all there
    log_file.write_bytes(data)
    assert len(read_records(log_file)) == 2
    j = Journal(path)
    assert j.replayed == 2 and list(j.load().orders) == ["C0", "C1"]
    j.close()


def test_records_already_committed_are_not_replayed(tmp_path):
    """A crash between the commit and the log's truncation: the records' numbers say they are in."""
    path = tmp_path / "j.db"
    j = Journal(path)
    submitted(j, "C1")
    kept = log_path(path).read_bytes()
    j.flush()
    j.close()
    log_path(path).write_bytes(kept)
    again = Journal(path)
    assert again.replayed == 0 and committed(path) == ["SUBMIT"]
    again.close()


def test_one_process_owns_the_log(tmp_path, monkeypatch):
    from alluse.execution import journal as journal_module

    monkeypatch.setattr(journal_module, "LOG_LOCK_WAIT_S", 0.1)
    path = tmp_path / "j.db"
    j = Journal(path)
    with pytest.raises(IntentLogBusy):
        IntentLog(log_path(path), fsync=False)
    with pytest.raises(JournalError, match="held by another process"):
        Journal(path)  # a second system on the same data dir
    other = Journal(path, intent_log=False)  # e.g. `alluse halt`: works, committing its intents itself
    other.record_order(make_order("C9"), "SUBMIT", 1)
    assert committed(path) == ["SUBMIT"]
    other.close()
    j.close()
    IntentLog(log_path(path), fsync=False).close()  # released at close (and by the kernel at a crash)


def test_a_journal_without_the_log_still_commits_what_a_crash_left_in_it_first(tmp_path):
    """Otherwise those intents would wait for a later start with the log, and land on top of newer rows."""
    path = tmp_path / "j.db"
    crash_after_intents(path, 2)
    j = Journal(path, intent_log=False)
    assert j.replayed == 2 and list(j.load().orders) == ["C0", "C1"]
    j.close()
    IntentLog(log_path(path), fsync=False).close()  # and it let the log go
    again = Journal(path)
    assert again.replayed == 0 and committed(path) == ["SUBMIT", "SUBMIT"]
    again.close()


def test_a_row_sqlite_would_refuse_is_refused_before_it_reaches_the_log(tmp_path):
    path = tmp_path / "j.db"
    j = Journal(path)
    bad = make_order("C1")
    bad.tag = None  # NOT NULL in the table
    with pytest.raises(ValueError, match="order row"):
        j.record_order(bad, "SUBMIT", 1)
    odd = make_order("C2")
    odd.reason = {"not": "storable"}
    with pytest.raises(ValueError, match="order row"):
        j.record_order(odd, "SUBMIT", 1)
    assert read_records(log_path(path)) == [] and j.pending == 0
    j.record_order(make_order("C3"), "SUBMIT", 2)
    j.flush()  # the group commit is not poisoned
    assert committed(path) == ["SUBMIT"]
    j.close()


def test_a_log_record_that_cannot_be_committed_stops_the_open_cleanly(tmp_path):
    path = tmp_path / "j.db"
    Journal(path).close()
    damaged = IntentLog(log_path(path), fsync=False)
    damaged.append(1, (5, "SUBMIT", "", "C1", None))  # written by a bug: not an order row
    damaged.close()
    with pytest.raises(JournalError, match="move the file aside"):
        Journal(path)
    IntentLog(log_path(path), fsync=False).close()  # nothing left holding the lock
    assert committed(path) == [] and len(read_records(log_path(path))) == 1  # and nothing changed


def test_reading_stops_at_a_record_older_than_the_one_before(tmp_path):
    """After the log starts over, what lies past the newest record is older, committed records."""
    path = tmp_path / "x-intents"
    log_file = IntentLog(path, fsync=True)  # the write-through path too
    log_file.start_over("t" * 32)
    for lsn in (7, 8, 3, 4):
        log_file.append(lsn, ("body", lsn))
    log_file.close()
    assert [r.lsn for r in read_records(path)] == [7, 8]


def test_a_reader_sees_an_order_once_whatever_commit_lands_while_it_reads(tmp_path):
    path = tmp_path / "j.db"
    j = Journal(path)
    o = submitted(j)  # in the log only
    ack_and_fill(j, o)  # waiting in memory: FILLED at the next commit
    reader = Journal(path, readonly=True)
    landed = []

    def commit_right_after(sql):  # the writer's group commit lands between the reader's two reads:
        if sql == "BEGIN" and not landed:  # after it read the log, as it opens its database snapshot
            j.flush()
            landed.append(j.pending)

    # SQLite's own statement hook: `load` reads the log with a module function, which compiled code
    # binds at build time (a patch of the module would not reach it)
    reader._db.set_trace_callback(commit_right_after)
    got = reader.load().orders["C1"]
    assert landed == [0]  # the commit did land there
    assert got.status is OrderStatus.FILLED  # from the database, not overlaid by the older logged row
    reader.close()
    j.close()


def test_a_log_another_journal_left_is_set_aside_not_replayed(tmp_path, caplog):
    """journal.db replaced after a crash, its intent log left beside it: those intents are not the new book's."""
    path = tmp_path / "j.db"
    crash_after_intents(path, 2)
    for leftover in tmp_path.glob("j.db*"):
        if not leftover.name.endswith("-intents"):
            leftover.unlink()
    with caplog.at_level("ERROR", logger="alluse.journal"):
        j = Journal(path)
    assert j.replayed == 0 and j.load().orders == {}
    assert "is not this journal's" in caplog.text and "2 intents readable" in caplog.text
    (kept,) = tmp_path.glob("j.db-intents.of-journal-*")
    assert [r.fields[3] for r in read_records(kept)] == ["C0", "C1"]  # kept for a person to look at
    assert read_records(log_path(path)) == []  # and the log is this journal's now
    j.close()
    crash_after_intents(path, 1, prefix="X")  # the new journal crashes early in its life
    again = Journal(path)
    assert again.replayed == 1 and list(again.load().orders) == ["X0"]  # none of the old journal's frames
    again.close()


def test_a_log_this_version_cannot_read_is_set_aside_not_dropped(tmp_path, caplog):
    path = tmp_path / "j.db"
    log_path(path).write_bytes(b"an intent log of another format" * 10)
    with caplog.at_level("ERROR", logger="alluse.journal"):
        j = Journal(path)
    assert "unrecognised" in caplog.text
    assert (tmp_path / "j.db-intents.unrecognised").read_bytes().startswith(b"an intent log of another format")
    j.close()
