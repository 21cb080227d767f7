from decimal import Decimal

import pytest

from alluse.app.config import MAX_CONFIG_BYTES, ConfigError, load_config


def write(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


def test_defaults_are_valid_and_have_two_sleeves():
    cfg = load_config()
    assert [s.account for s in cfg.strategy.sleeves] == ["Gen-Acc", "Rev-Acc"]
    assert cfg.accounts["Gen-Acc"].cash == Decimal(100_000)


def test_file_and_overrides_layer_over_defaults(tmp_path):
    cfg = load_config(write(tmp_path, "[run]\nseed = 3\nspeed = 10\n"), {"run": {"speed": 20.0, "seed": None}})
    assert cfg.run.seed == 3 and cfg.run.speed == 20.0


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, "[run]\nsped = 10\n"))
    assert "run.sped = 10: unknown key" in str(exc.value)


def test_wrong_type_names_key_and_value(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, '[risk]\nmax_order_shares = "lots"\n'))
    assert "risk.max_order_shares = 'lots'" in str(exc.value)


def test_out_of_range_value(tmp_path):
    with pytest.raises(ConfigError, match="run.speed = -1"):
        load_config(write(tmp_path, "[run]\nspeed = -1\n"))


def test_sleeve_with_unknown_account_is_refused(tmp_path):
    text = '[[strategy.sleeves]]\naccount = "Nope"\nunderlyings = ["TSLA"]\ndelta_min = 0.4\ndelta_max = 0.5\n'
    with pytest.raises(ConfigError, match="'Nope': not in \\[accounts\\]"):
        load_config(write(tmp_path, text))


def test_inverted_delta_band(tmp_path):
    text = '[[strategy.sleeves]]\naccount = "Gen-Acc"\nunderlyings = ["TSLA"]\ndelta_min = 0.5\ndelta_max = 0.4\n'
    with pytest.raises(ConfigError, match="delta_min 0.5 is above delta_max 0.4"):
        load_config(write(tmp_path, text))


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[run\n"))


def test_risk_override_for_an_unknown_account_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="risk.accounts.Gen_Acc: not in \\[accounts\\]"):
        load_config(write(tmp_path, "[risk.accounts.Gen_Acc]\nmax_open_orders = 5\n"))


def test_fault_rates_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="venue.faults.pacing_reject_rate = 1.5"):
        load_config(write(tmp_path, "[venue.faults]\npacing_reject_rate = 1.5\n"))


def test_the_demo_config_loads():
    from pathlib import Path

    cfg = load_config(Path(__file__).parents[3] / "configs" / "demo.toml")
    assert cfg.venue.faults.pacing_reject_rate > 0


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[run]\nseed = -1\n", "run.seed = -1"),
        ("[run]\nspeed = inf\n", "run.speed = inf"),
        ("[run]\nspeed = 1e300\n", "run.speed = 1e+300"),
        ('[run]\nbroker = "schwab"\n', None),  # a name the kernel checks against its registry (test_kernel)
        ('[run]\nbroker = "ibkr"\n', "a real IB gateway trades in real time"),  # wall-clock only
        ("[gateway]\nserver_version = 177\n", "gateway.server_version = 177"),
        ('[gateway]\nhost = "0.0.0.0"\n', "gateway.host = '0.0.0.0'"),
        ("[ibkr]\nclient_ids = []\n", "ibkr.client_ids = []"),
        ("[market]\nstep_interval_s = 0\n", "market.step_interval_s = 0"),
        ("[venue]\nack_latency_ms = -2\n", "venue.ack_latency_ms = -2"),
        ("[execution]\nack_timeout_ms = 0\n", "execution.ack_timeout_ms = 0"),
        ('[journal]\nsynchronous = "SOMETIMES"\n', "journal.synchronous = 'SOMETIMES'"),
    ],
)
def test_each_engine_section_names_its_bad_key_and_value(tmp_path, text, named):
    path = write(tmp_path, text)
    if named is None:
        assert load_config(path).run.broker == "schwab"
        return
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert named in str(exc.value) and "\n" not in str(exc.value)  # one line: that key


def test_a_config_path_that_is_a_directory_or_binary_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=f"config file {tmp_path}: is a directory$"):
        load_config(tmp_path)
    binary = tmp_path / "c.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="c.toml: not UTF-8 text \\(byte 0 is 0xff\\)$"):
        load_config(binary)
    binary.write_bytes(b"\x00")
    with pytest.raises(ConfigError, match="c.toml: not valid TOML"):
        load_config(binary)
    huge = tmp_path / "huge.toml"  # a valid TOML comment, but no config is this big: not read whole
    huge.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(ConfigError, match=f"huge.toml: larger than {MAX_CONFIG_BYTES >> 10} KiB"):
        load_config(huge)
    huge.write_bytes(b"#" * MAX_CONFIG_BYTES)
    assert load_config(huge) == load_config()


def test_a_warm_up_shorter_than_the_monitoring_window_is_refused():
    """The windowed series carry start-up for a whole window: a shorter warm-up would let it into the report."""
    with pytest.raises(ConfigError, match="analytics.warmup_s = 30: shorter than monitoring.window_s"):
        load_config(overrides={"analytics": {"warmup_s": 30}})
    assert load_config(overrides={"analytics": {"warmup_s": 0}}).analytics.warmup_s == 0  # off: start-up kept in
    shorter_window = load_config(overrides={"analytics": {"warmup_s": 30}, "monitoring": {"window_s": 30}})
    assert shorter_window.analytics.warmup_s == 30
