from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vfl.data._resize import center_crop_or_pad, resample

sizes = st.integers(min_value=1, max_value=40)


@settings(max_examples=60, deadline=None)
@given(h=sizes, w=sizes, th=sizes, tw=sizes, value=st.floats(-1000, 1000))
def test_any_image_reaches_the_target_shape_and_constants_stay_constant(
    h: int, w: int, th: int, tw: int, value: float
) -> None:
    image = np.full((h, w), value, dtype=np.float32)
    for out in (center_crop_or_pad(image, (th, tw)), resample(image, (th, tw))):
        assert out.shape == (th, tw)
        assert out.dtype == np.float32
        assert np.allclose(out, np.float32(value), atol=1e-3)


@settings(max_examples=40, deadline=None)
@given(h=sizes, w=sizes)
def test_crop_keeps_the_centre_pixel(h: int, w: int) -> None:
    image = np.arange(h * w, dtype=np.float32).reshape(h, w)
    padded = center_crop_or_pad(image, (h + 4, w + 6))
    assert np.array_equal(center_crop_or_pad(padded, (h, w)), image)
