"""Interactive Brokers: the adapter on ib_async (to come) and, in `gateway/`, a local gateway that speaks the
TWS socket protocol so the adapter is proven against a real socket without reaching IB."""
