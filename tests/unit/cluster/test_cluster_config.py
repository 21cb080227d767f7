"""`[cluster]`: a renewal that does not fit inside the send window is refused by its own name, and the error
never repeats the section (its DSN carries a password)."""

import pytest

from alluse.app.config import ConfigError, load_config_as
from alluse.cluster.config import ClusterFileConfig


def test_a_renewal_slower_than_the_send_window_is_refused_without_the_password(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[cluster]\npostgres = "postgresql://u:SECRET@127.0.0.1/x"\nlease_ttl_s = 2\nrenew_every_s = 2\n')
    with pytest.raises(ConfigError) as refused:
        load_config_as(ClusterFileConfig, path)
    message = str(refused.value)
    assert "cluster.renew_every_s = 2" in message and "lease_ttl_s - send_margin_s = 1.5" in message
    assert "SECRET" not in message


def test_the_defaults_fit():
    cluster = ClusterFileConfig().cluster
    assert cluster.renew_every_s < cluster.lease_ttl_s - cluster.send_margin_s
