import vfl.crypto


def test_public_api_is_pinned() -> None:
    assert sorted(vfl.crypto.__all__) == [
        "DEFAULT_KEY_BITS",
        "EngineStats",
        "PackedMatrix",
        "PaillierEngine",
        "PrivateKey",
        "ProductBudget",
        "ProductOp",
        "PublicKey",
        "SUPPORTED_KEY_BITS",
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
    for name in vfl.crypto.__all__:
        assert hasattr(vfl.crypto, name)
