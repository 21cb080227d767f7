"""`--json` on the reading commands (orders, alerts, metrics; positions and status have their own tests): one line
of strict JSON on stdout with the fields the tables show, times as ISO 8601 UTC beside epoch ns; `--limit` the
same everywhere (0 is all, a negative value one line naming it); `orders` shows full option symbols and times."""

import time
from datetime import datetime

import pytest
from data_dirs import LONG_REASON, strict_json, write_data_dir

from alluse.cli import main
from alluse.cli.output import print_json
from alluse.common.clock import NS, ns_to_datetime
from alluse.common.metrics import Sample
from alluse.monitoring.store import METRICS_FILE, MetricsStore


def run(capsys, *argv: str) -> str:
    assert main(list(argv)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def test_orders_json_has_every_order_with_times_and_full_symbols(capsys, tmp_path):
    w = write_data_dir(tmp_path)
    doc = strict_json(run(capsys, "orders", "--data-dir", str(tmp_path), "--json", "--limit", "0"))
    assert [o["client_order_id"] for o in doc["orders"]] == [o.client_order_id for o in w.orders]  # oldest first
    for got, o in zip(doc["orders"], w.orders, strict=True):
        assert (got["instrument_id"], got["account"], got["side"], got["quantity"], got["status"]) == (
            o.instrument_id, o.account, o.side.value, o.quantity, o.status.value)  # fmt: skip
        assert got["created_ns"] == o.ts_created and datetime.fromisoformat(got["created"]) == ns_to_datetime(
            o.ts_created)  # fmt: skip
        assert got["updated_ns"] == o.ts_last and datetime.fromisoformat(got["updated"]) == ns_to_datetime(o.ts_last)
        assert got["avg_fill_price"] == (str(o.avg_fill_price) if o.filled_qty else None)
        assert got["reason"] == (o.reason or None)
    doc = strict_json(run(capsys, "orders", "--data-dir", str(tmp_path), "--json", "--status", "accepted"))
    assert [o["client_order_id"] for o in doc["orders"]] == [w.open_order.client_order_id]


def test_orders_table_shows_whole_symbols_and_utc_times_however_wide_the_rest(capsys, tmp_path):
    w = write_data_dir(tmp_path)  # one order's reason is long: the table outgrows the console
    out = run(capsys, "orders", "--data-dir", str(tmp_path), "--limit", "0")
    assert "created (UTC)" in out and "updated (UTC)" in out and "…" not in out
    for o in w.orders:
        assert o.instrument_id in out  # "TSLA  261218P00250000": padding and all, on one line
        assert f"{ns_to_datetime(o.ts_created):%Y-%m-%d %H:%M:%S}" in out
        assert f"{ns_to_datetime(o.ts_last):%Y-%m-%d %H:%M:%S}" in out
    assert all(word in out for word in LONG_REASON.split())  # wrapped between words, none cut
    assert len({len(line) for line in out.splitlines()[1:]}) == 1  # every row of the table as wide: nothing cropped


@pytest.mark.parametrize("command", ["orders", "alerts"])
def test_limit_zero_is_all_and_n_the_newest_n(capsys, tmp_path, command):
    w = write_data_dir(tmp_path)
    key = "orders" if command == "orders" else "events"
    everything = strict_json(run(capsys, command, "--data-dir", str(tmp_path), "--json", "--limit", "0"))[key]
    assert len(everything) == (len(w.orders) if command == "orders" else len(w.alerts))
    [newest] = strict_json(run(capsys, command, "--data-dir", str(tmp_path), "--json", "--limit", "1"))[key]
    # orders are listed oldest first (the newest last); alert events newest first
    assert newest == (everything[-1] if command == "orders" else everything[0])


@pytest.mark.parametrize("command", ["orders", "alerts"])
def test_a_negative_limit_is_refused_in_one_line_naming_it(capsys, tmp_path, command):
    write_data_dir(tmp_path)
    assert main([command, "--data-dir", str(tmp_path), "--limit", "-3"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "--limit=-3: must be 0 (all) or a positive count" in err


def test_alerts_json_is_each_event_as_notified_newest_first(capsys, tmp_path):
    w = write_data_dir(tmp_path)
    doc = strict_json(run(capsys, "alerts", "--data-dir", str(tmp_path), "--json"))
    assert doc["events"] == [e.to_dict() for e in reversed(w.alerts)]
    assert {"rule", "state", "kind", "severity", "ts", "ts_ns"} <= doc["events"][0].keys()
    firing = strict_json(run(capsys, "alerts", "--data-dir", str(tmp_path), "--json", "--state", "firing"))
    assert {e["state"] for e in firing["events"]} == {"firing"}


def test_metrics_json_latest_values_and_a_series_with_times(capsys, tmp_path):
    now = time.time_ns()
    samples = [Sample("alluse_demo_gauge", now - (3 - i) * NS, float(i)) for i in range(3)]
    store = MetricsStore(tmp_path / METRICS_FILE)
    for s in samples:
        store.submit([s, Sample("other_series", s.ts_ns, 1.0)])
    assert store.close()

    doc = strict_json(run(capsys, "metrics", "--data-dir", str(tmp_path), "--json", "--prefix", "alluse_demo"))
    [latest] = doc["series"]
    last = samples[-1]
    assert (latest["series"], latest["value"], latest["ts_ns"]) == (last.series, last.value, last.ts_ns)
    assert datetime.fromisoformat(latest["ts"]) == ns_to_datetime(last.ts_ns)

    doc = strict_json(run(capsys, "metrics", "--data-dir", str(tmp_path), "--json", "--series", "alluse_demo_gauge",
                          "--minutes", "5"))  # fmt: skip
    assert [(p["ts_ns"], p["value"]) for p in doc["points"]] == [(s.ts_ns, s.value) for s in samples]
    assert doc["start_ns"] < samples[0].ts_ns < samples[-1].ts_ns < doc["end_ns"]
    assert datetime.fromisoformat(doc["end"]) == ns_to_datetime(doc["end_ns"])


def test_print_json_is_strict_json_on_one_line(capsys):
    print_json({"nan": float("nan"), "inf": float("-inf"), "at": ns_to_datetime(0), "text": "[bold]x[/]"})
    assert strict_json(capsys.readouterr().out) == {"nan": None, "inf": None, "at": "1970-01-01T00:00:00Z",
                                                    "text": "[bold]x[/]"}  # fmt: skip


@pytest.mark.parametrize(
    "argv,message",
    [
        (["orders", "--limit", "abc"], "alluse orders: argument --limit: invalid int value: 'abc'"),
        (["status", "--bogus"], "alluse: unrecognized arguments: --bogus"),
        (["statuz"], "alluse: argument command: invalid choice: 'statuz'"),
    ],
)
def test_an_option_argparse_refuses_is_one_line_too(capsys, argv, message):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    out, err = capsys.readouterr()
    assert stop.value.code == 2 and out == "" and err.count("\n") == 1 and err.startswith("error: "), err
    assert message in err and "--help" in err
