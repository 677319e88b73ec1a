"""Paillier engine: keys, the packing codec, packed batch operations and the wire form.

The only package that imports phe. Everything the interactive layer needs::

    pk, sk = generate_keypair(2048)
    budget = ProductBudget(x_bound=8.0, a_bound=8.0, n_terms=32)
    with PaillierEngine(pk, sk) as engine:
        ex = engine.encrypt(x, axis=0, budget=budget)       # [[X]], packed along the batch
        ey = engine.matmul(ex, w)                           # [[X·W]] (offset-encoded)
        raw = engine.decrypt_ints(ey)                       # exact slot ints

See `vfl.crypto.packing` for the encoding and the slot budget, `vfl.crypto.engine` for the
cost of each call.
"""

from vfl.crypto.engine import EngineStats, PaillierEngine
from vfl.crypto.keys import (
    DEFAULT_KEY_BITS,
    SUPPORTED_KEY_BITS,
    PrivateKey,
    PublicKey,
    generate_keypair,
)
from vfl.crypto.packing import (
    PackedMatrix,
    ProductBudget,
    ProductOp,
    completion_addend,
    completion_offset,
    decode,
    encode_scalars,
    encode_values,
    encryptor_side_correction,
    scalar_side_correction,
)
from vfl.crypto.wire import WireMeta, from_wire, to_wire

__all__ = [
    "DEFAULT_KEY_BITS",
    "SUPPORTED_KEY_BITS",
    "EngineStats",
    "PackedMatrix",
    "PaillierEngine",
    "PrivateKey",
    "ProductBudget",
    "ProductOp",
    "PublicKey",
    "WireMeta",
    "completion_addend",
    "completion_offset",
    "decode",
    "encode_scalars",
    "encode_values",
    "encryptor_side_correction",
    "from_wire",
    "generate_keypair",
    "scalar_side_correction",
    "to_wire",
]
