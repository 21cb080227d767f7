"""IB order ids: never reused, by this process, by the next one, or after IB hands out lower ids again."""

from __future__ import annotations

from pathlib import Path

import pytest

from alluse.brokers.ibkr.order_ids import ORDER_IDS_FILE, OrderIds, OrderIdsError
from alluse.model.errors import ErrorClass


def test_ids_go_up_and_follow_ibs_next_valid_id_when_it_is_higher(tmp_path: Path) -> None:
    ids = OrderIds(tmp_path / ORDER_IDS_FILE, block=10)
    assert [ids.take(1, 1), ids.take(1, 1), ids.take(1, 50), ids.take(1, 3)] == [1, 2, 50, 51]
    assert ids.take(2, 1) == 1  # order ids are per client id


def test_a_new_process_continues_after_the_reserved_block(tmp_path: Path) -> None:
    path = tmp_path / ORDER_IDS_FILE
    first = OrderIds(path, block=10)
    used = [first.take(1, 1) for _ in range(12)]  # two blocks reserved: up to 21
    second = OrderIds(path, block=10)
    assert second.take(1, 1) > max(used)  # IB says 1 after its restart: the mark says more


def test_a_damaged_file_stops_orders_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / ORDER_IDS_FILE
    path.write_text("{not json")
    with pytest.raises(OrderIdsError, match=str(path)) as e:
        OrderIds(path)
    assert e.value.error_class is ErrorClass.PERMANENT


def test_an_unwritable_mark_hands_out_no_id(tmp_path: Path) -> None:
    ids = OrderIds(tmp_path / "missing-dir" / ORDER_IDS_FILE, block=10)
    with pytest.raises(OrderIdsError, match="cannot write"):
        ids.take(1, 1)
    assert ids.high_water(1) == 1  # nothing was handed out
