"""Shared order, digests and keyed buckets: properties that must hold for any ID sets."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from psi.buckets import assign, bucket_count
from psi.order import digest, shared_order

id_text = st.text(min_size=1, max_size=12).map(lambda s: s.encode("utf-8"))


@settings(max_examples=30, deadline=None)
@given(
    common=st.sets(id_text, max_size=40),
    a=st.sets(id_text, max_size=20),
    b=st.sets(id_text, max_size=20),
    seed=st.integers(0, 2**16),
)
def test_every_side_orders_the_shared_set_identically(
    common: set[bytes], a: set[bytes], b: set[bytes], seed: int
) -> None:
    rng = random.Random(seed)
    side_a, side_b = list(common | a), list(common | b)
    rng.shuffle(side_a)
    rng.shuffle(side_b)
    shared = set(side_a) & set(side_b)
    order_a = [side_a[i] for i in shared_order(side_a, [side_a.index(x) for x in shared])]
    order_b = [side_b[i] for i in shared_order(side_b, [side_b.index(x) for x in shared])]
    assert order_a == order_b == sorted(shared)
    salt = bytes(32)
    assert digest(salt, order_a) == digest(salt, order_b)


@given(items=st.lists(id_text, min_size=2, max_size=10, unique=True))
def test_digest_binds_order_salt_and_boundaries(items: list[bytes]) -> None:
    salt = b"s" * 32
    assert digest(salt, items) != digest(salt, items[::-1])
    assert digest(salt, items) != digest(b"t" * 32, items)
    joined = [items[0] + items[1], *items[2:]]
    assert digest(salt, items) != digest(salt, joined)


@settings(max_examples=40, deadline=None)
@given(
    ids=st.lists(id_text, unique=True, max_size=200),
    n=st.integers(1, 9),
    key=st.binary(min_size=32, max_size=32),
)
def test_buckets_partition_the_ids_and_depend_only_on_the_id(
    ids: list[bytes], n: int, key: bytes
) -> None:
    parts = assign(ids, key, n)
    assert sorted(i for p in parts for i in p) == list(range(len(ids)))
    again = assign(list(reversed(ids)), key, n)
    where = {ids[i]: k for k, p in enumerate(parts) for i in p}
    rev = list(reversed(ids))
    assert all(where[rev[i]] == k for k, p in enumerate(again) for i in p)


def test_bucket_key_changes_the_assignment() -> None:
    ids = [f"ID{i}".encode() for i in range(1000)]
    assert assign(ids, b"a" * 32, 8) != assign(ids, b"b" * 32, 8)


def test_bucket_count_scales_with_the_largest_set() -> None:
    assert bucket_count(10) == 1
    assert bucket_count(50_000) == 16  # enough buckets to overlap the parties' work
    assert bucket_count(1_000_000, 10_000) == 100
