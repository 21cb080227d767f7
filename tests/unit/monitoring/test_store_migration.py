"""Version 2 of metrics.db: the money gauges' series stored under their old names are renamed to the _usd names."""

import shutil
import sqlite3
from pathlib import Path

from alluse.monitoring.store import RENAMED_V2, SCHEMA_VERSION, MetricsStore, open_for_writing

V1 = Path(__file__).parents[2] / "fixtures" / "v1" / "metrics.db"


def test_a_v1_store_gets_its_money_series_renamed_and_keeps_their_samples(tmp_path):
    path = tmp_path / "metrics.db"
    shutil.copyfile(V1, path)
    db = sqlite3.connect(path)
    db.execute("""INSERT INTO series (name, last_ts_ns, last_value)
                  VALUES ('alluse_account_equity{account="A"}', 5, 1.5), ('alluse_account_cash', 5, 2.5),
                         ('alluse_account_cashflow', 5, 3.5)""")
    sid = db.execute("""SELECT id FROM series WHERE name = 'alluse_account_equity{account="A"}'""").fetchone()[0]
    db.execute("INSERT INTO samples (minute, series_id, ts_ns, value) VALUES (0, ?, 5, 1.5)", (sid,))
    db.commit()
    db.close()
    open_for_writing(path).close()
    reader = MetricsStore.open_readonly(path)
    names = reader.series_names("alluse_account")
    renamed = ['alluse_account_cash_usd', 'alluse_account_equity_usd{account="A"}']
    assert names == sorted([*renamed, 'alluse_account_cashflow'])  # a name that only starts alike is left alone
    assert reader.query('alluse_account_equity_usd{account="A"}', 0, 10) == [(5, 1.5)]
    reader.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    db.close()
    assert set(RENAMED_V2.values()) == {f"{old}_usd" for old in RENAMED_V2}
