"""The [risk] section: defaults, per-account overrides, and errors that name the key."""

from decimal import Decimal

import pytest

from alluse.app.config import ConfigError, load_config
from alluse.risk import RiskLimits
from alluse.risk.config import RiskConfig


def load(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return load_config(path)


def error(tmp_path, text):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, text)
    return str(exc.value)


def test_defaults_give_the_account_types_their_delta_bands():
    risk = load_config().risk
    assert (risk.limits_for("Gen-Acc").put_delta_min, risk.limits_for("Gen-Acc").put_delta_max) == (0.40, 0.50)
    assert (risk.limits_for("Rev-Acc").put_delta_min, risk.limits_for("Rev-Acc").put_delta_max) == (0.30, 0.40)
    other = risk.limits_for("Other")
    assert other.put_delta_min is None and other.daily_loss_limit is None and other.max_open_orders == 100


def test_account_tables_override_only_the_keys_they_name(tmp_path):
    risk = load(
        tmp_path,
        "[risk]\nmax_open_orders = 50\ndaily_loss_limit = 2500\n"
        "[risk.accounts.Gen-Acc]\nmax_open_orders = 5\nput_delta_max = 0.45\n"
        '[risk.accounts.Rev-Acc]\ndaily_loss_limit = "off"\n',
    ).risk
    gen, rev = risk.limits_for("Gen-Acc"), risk.limits_for("Rev-Acc")
    assert (gen.max_open_orders, gen.put_delta_min, gen.put_delta_max, gen.daily_loss_limit) == (
        5,
        0.40,
        0.45,
        Decimal(2500),
    )
    assert (rev.max_open_orders, rev.put_delta_min, rev.daily_loss_limit) == (50, 0.30, None)


def test_limits_in_checking_units():
    limits = RiskLimits.from_config(RiskConfig(orders_per_second=4, duplicate_window_s=0.5))
    assert limits.order_interval_ns == 250_000_000 and limits.duplicate_window_ns == 500_000_000


def test_unknown_keys_are_named(tmp_path):
    assert "risk.max_orders = 5: unknown key" in error(tmp_path, "[risk]\nmax_orders = 5\n")
    text = "[risk.accounts.Gen-Acc]\ndelta_min = 0.4\n"
    assert "risk.accounts.Gen-Acc.delta_min = 0.4: unknown key" in error(tmp_path, text)


def test_wrong_types_are_named(tmp_path):
    msg = error(tmp_path, '[risk.accounts.Rev-Acc]\nmax_open_orders = "many"\n')
    assert "risk.accounts.Rev-Acc.max_open_orders = 'many'" in msg
    assert "risk.put_delta_min = 1.5" in error(tmp_path, "[risk]\nput_delta_min = 1.5\n")
    assert "risk.daily_loss_limit = -5" in error(tmp_path, "[risk]\ndaily_loss_limit = -5\n")
    assert "risk.order_burst = 0" in error(tmp_path, "[risk]\norder_burst = 0\n")


def test_delta_min_above_delta_max(tmp_path):
    msg = error(tmp_path, "[risk.accounts.Gen-Acc]\nput_delta_min = 0.5\nput_delta_max = 0.4\n")
    assert "risk.accounts.Gen-Acc = " in msg and "put_delta_min 0.5 is above put_delta_max 0.4" in msg
    msg = error(tmp_path, "[risk]\nput_delta_min = 0.5\nput_delta_max = 0.4\n")
    assert "risk = " in msg and "put_delta_min 0.5 is above put_delta_max 0.4" in msg


def test_an_override_that_clashes_with_the_account_type_default(tmp_path):
    msg = error(tmp_path, "[risk.accounts.Gen-Acc]\nput_delta_min = 0.55\n")
    assert "risk.accounts = " in msg and "Gen-Acc: put_delta_min 0.55 is above put_delta_max 0.5" in msg


def test_dte_window_must_be_a_window(tmp_path):
    assert "min_dte 70.0 is above max_dte 60.0" in error(tmp_path, "[risk.accounts.X]\nmin_dte = 70\n")
