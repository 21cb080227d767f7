"""Brokers: `base.py` is the port every broker implements and the only part of a broker the order manager
knows; each broker is one subpackage (`paper/` now, `ibkr/` next), wired by the kernel's registry."""
