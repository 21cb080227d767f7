from alluse.common.bus import MessageBus


def test_each_handler_once_in_subscription_order():
    bus, got = MessageBus(), []
    first = lambda m: got.append(("first", m))  # noqa: E731
    bus.subscribe("t", first)
    bus.subscribe("t", lambda m: got.append(("second", m)))
    bus.subscribe("t", first)  # already subscribed: not twice
    bus.publish("t", 1)
    bus.publish("other", 2)  # no subscribers: nothing happens
    assert got == [("first", 1), ("second", 1)] and bus.published == 2


def test_a_round_in_progress_is_not_changed_by_its_handlers():
    bus, got = MessageBus(), []

    def leaves(message: int) -> None:
        got.append(("leaves", message))
        bus.unsubscribe("t", leaves)
        bus.subscribe("t", late)

    def late(message: int) -> None:
        got.append(("late", message))

    bus.subscribe("t", leaves)
    bus.subscribe("t", stays := lambda m: got.append(("stays", m)))
    bus.publish("t", 1)  # late joins for the next round only; stays still runs in this one
    bus.publish("t", 2)
    assert got == [("leaves", 1), ("stays", 1), ("stays", 2), ("late", 2)]
    bus.unsubscribe("t", stays)
    bus.unsubscribe("t", stays)  # not subscribed: no-op
    bus.publish("t", 3)
    assert got[-1] == ("late", 3)


def test_a_failing_handler_is_counted_and_the_others_still_run():
    bus, got = MessageBus(), []
    bus.subscribe("t", lambda m: 1 / 0)
    bus.subscribe("t", got.append)
    bus.publish("t", 5)
    assert got == [5] and bus.handler_errors == 1
