from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
import pytest
from data_helpers import dicom_slice, ids_csv, truncate

from vfl.data import DataConfig, ImageSpec, Preprocessor, fit_preprocessor, load_party_data
from vfl.errors import InputDataError

IDS = ["MRN-0000001", "MRN-0000002", "MRN-0000003", "MRN-0000004"]


def _config(ids_file: Path, **image: object) -> DataConfig:
    spec = ImageSpec(**{"format": "dicom", "path": ids_file, **image})  # type: ignore[arg-type]
    return DataConfig(ids_file=ids_file, id_column="patient_id", image=spec)


def _dicom_cohort(root: Path, shapes: list[tuple[int, int]]) -> Path:
    paths = []
    for k, shape in enumerate(shapes):
        rel = f"dcm/ACC{k}.dcm"
        dicom_slice(root / rel, np.full(shape, 10 * (k + 1), dtype=np.int16))
        paths.append(rel)
    return ids_csv(root / "manifest.csv", IDS[: len(shapes)], path=paths)


def test_dicom_manifest_loads_in_requested_row_order_in_hu(out: Path) -> None:
    manifest = _dicom_cohort(out, [(8, 8)] * 4)
    data = load_party_data(_config(manifest, shape=(8, 8)), rows=[2, 0, 3])
    assert data.image is not None
    assert data.image.shape == (3, 1, 8, 8)
    assert data.image[:, 0, 0, 0].tolist() == [30.0, 10.0, 40.0]  # HU after RescaleIntercept
    assert data.rows.tolist() == [2, 0, 3]


def test_dicom_folder_per_patient_is_a_series_sorted_by_position(out: Path) -> None:
    root = out / "patients"
    for pid in IDS[:2]:
        for z in (2.0, 0.0, 1.0):  # written out of order on purpose
            dicom_slice(root / pid / f"s{z}.dcm", np.full((6, 6), int(z * 100)), z=z)
    ids = ids_csv(out / "ids.csv", IDS[:2])
    cfg = DataConfig(ids, "patient_id", image=ImageSpec("dicom", root, shape=(3, 6, 6)))
    data = load_party_data(cfg)
    assert data.image is not None
    assert data.image.shape == (2, 1, 3, 6, 6)
    assert data.image[0, 0, :, 0, 0].tolist() == [0.0, 100.0, 200.0]


def test_crop_pad_and_resample_reach_the_tower_shape(out: Path) -> None:
    manifest = _dicom_cohort(out, [(10, 10), (6, 6), (12, 8), (8, 8)])
    for resize in ("crop", "resample"):
        data = load_party_data(_config(manifest, shape=(8, 8), resize=resize))
        assert data.image is not None
        assert data.image.shape == (4, 1, 8, 8)
        assert np.allclose(data.image[1], 20.0)  # constant image stays constant either way


def test_every_bad_image_is_reported_in_one_error_without_ids(out: Path) -> None:
    manifest = _dicom_cohort(out, [(8, 8), (8, 8), (9, 7), (8, 8)])
    truncate(out / "dcm/ACC1.dcm", 40)  # pixel data cut short
    (out / "dcm/ACC3.dcm").write_bytes(b"not a dicom file at all")
    ids_csv(out / "ids.csv", [*IDS, "MRN-0000099"])  # last patient has no image
    cfg = DataConfig(
        out / "ids.csv",
        "patient_id",
        image=ImageSpec("dicom", manifest, resize="none", shape=(8, 8)),
    )
    with pytest.raises(InputDataError) as info:
        load_party_data(cfg)
    message = str(info.value)
    assert "4 problem(s)" in message
    assert "patient missing at position 4" in message
    assert "truncated or undecodable DICOM pixel data at position 1" in message
    assert "not a DICOM file at position 3" in message
    assert "mixed shapes" in message and "position 2" in message
    assert "manifest.csv" in message
    assert not any(pid in message for pid in [*IDS, "MRN-0000099"])
    assert "ACC" not in message  # per-patient paths can embed IDs: never shown


def test_nan_pixels_are_reported(out: Path) -> None:
    arr = np.zeros((3, 5, 5), dtype=np.float32)
    arr[1, 2, 2] = np.nan
    arr[2, 0, 0] = np.inf
    np.save(out / "images.npy", arr)
    ids = ids_csv(out / "ids.csv", IDS[:3])
    cfg = DataConfig(ids, "patient_id", image=ImageSpec("npy", out / "images.npy"))
    with pytest.raises(InputDataError, match=r"NaN or infinite pixel values at 2 positions: 1, 2"):
        load_party_data(cfg)


def test_npz_rows_follow_the_id_file(out: Path) -> None:
    arr = np.arange(4 * 2 * 2, dtype=np.float32).reshape(4, 2, 2)
    np.savez(out / "images.npz", images=arr)
    ids = ids_csv(out / "ids.csv", IDS)
    cfg = DataConfig(ids, "patient_id", image=ImageSpec("npz", out / "images.npz"))
    data = load_party_data(cfg, rows=[3, 1])
    assert data.image is not None
    assert np.array_equal(data.image[:, 0], arr[[3, 1]])
    bad = DataConfig(ids, "patient_id", image=ImageSpec("npz", out / "images.npz", npz_key="x"))
    with pytest.raises(InputDataError, match="no array 'x'"):
        load_party_data(bad)


def test_nifti_folder_by_id_and_truncated_volume(out: Path) -> None:
    root = out / "nii"
    root.mkdir()
    for k, pid in enumerate(IDS[:3]):
        vol = np.full((4, 5, 6), float(k), dtype=np.float32)  # (x, y, z)
        image = nibabel.Nifti1Image(vol, np.eye(4))  # type: ignore[no-untyped-call]
        nibabel.save(image, root / f"{pid}.nii.gz")
    ids = ids_csv(out / "ids.csv", IDS[:3])
    cfg = DataConfig(
        ids, "patient_id", image=ImageSpec("nifti", root, shape=(6, 5, 4), resize="none")
    )
    data = load_party_data(cfg)
    assert data.image is not None
    assert data.image.shape == (3, 1, 6, 5, 4)  # (D, H, W) = (z, y, x)
    assert data.image[2].min() == 2.0
    truncate(root / f"{IDS[1]}.nii.gz", 200)
    with pytest.raises(InputDataError, match="unreadable or truncated NIfTI .* at position 1"):
        load_party_data(cfg)


def test_image_normalisation_is_fitted_on_training_rows_only(out: Path) -> None:
    arr = np.stack([np.full((4, 4), v, np.float32) for v in (0.0, 2.0, 100.0)])
    np.save(out / "images.npy", arr)
    ids = ids_csv(out / "ids.csv", IDS[:3])
    cfg = DataConfig(
        ids, "patient_id", image=ImageSpec("npy", out / "images.npy", normalize="zscore")
    )
    data = load_party_data(cfg)
    prep = fit_preprocessor(cfg, data, [0, 1])
    assert prep.image is not None
    assert (prep.image.shift, prep.image.scale) == (1.0, 1.0)  # the outlier row 2 is unseen
    assert prep.transform(data).image[:, 0, 0, 0].tolist() == [-1.0, 1.0, 99.0]  # type: ignore[index]
    window = DataConfig(
        ids,
        "patient_id",
        image=ImageSpec("npy", out / "images.npy", normalize="window", window=(50.0, 100.0)),
    )
    scaled = fit_preprocessor(window, data, [0]).transform(data).image
    assert scaled is not None
    assert scaled[:, 0, 0, 0].tolist() == pytest.approx([0.0, 0.02, 1.0])


def test_image_pca_projects_training_fitted_whitened_components(out: Path) -> None:
    rng = np.random.default_rng(0)
    size = rng.uniform(1, 6, size=40)
    yy, xx = np.mgrid[0:16, 0:16]
    disks = [(np.hypot(yy - 8, xx - 8) < r).astype(np.float32) for r in size]
    np.save(out / "images.npy", np.stack(disks) + rng.normal(0, 0.05, (40, 16, 16)))
    ids = ids_csv(out / "ids.csv", [f"P{k}" for k in range(40)])
    spec = ImageSpec("npy", out / "images.npy", normalize="zscore", pca=3)
    cfg = DataConfig(ids, "patient_id", image=spec)
    data = load_party_data(cfg)
    prep = fit_preprocessor(cfg, data, np.arange(30))
    scores = prep.transform(data).image
    assert scores is not None
    assert scores.shape == (40, 3)
    assert scores[:30].std(axis=0) == pytest.approx([1.0, 1.0, 1.0], rel=0.05)  # whitened
    assert abs(np.corrcoef(scores[:, 0], size)[0, 1]) > 0.9  # lesion size is the first axis
    prep.save(out / "prep.json")
    assert Preprocessor.load(out / "prep.json") == prep
