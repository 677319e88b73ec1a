"""Image loaders: DICOM series (pydicom), NIfTI (nibabel), NPY/NPZ; resizing to the tower shape.

Sources, per `[data.image]`:

- ``dicom`` / ``nifti`` with ``path`` a manifest (CSV/Parquet: the ID column and a column of
  file or folder paths, relative to the manifest's folder), or ``path`` a folder holding one
  entry per patient named by the ID: a sub-folder (or file) of DICOM slices, ``<ID>.nii.gz`` or
  ``<ID>.nii``. A DICOM folder is one series: slices are ordered by ImagePositionPatient (then
  InstanceNumber) into a (D, H, W) volume; a single slice gives (H, W). Stored values are mapped
  through RescaleSlope/RescaleIntercept (Hounsfield units for CT).
- ``npy`` / ``npz``: one array whose first axis follows the rows of the ID file.

Output: float32 ``(n, 1, *shape)`` (one channel), intensities not yet normalised (that is
fitted per site, see `vfl.data.fit_preprocessor`). Problems name the manifest or folder and the
patient's position, never the per-patient path, which usually embeds the ID.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vfl.data._config import ImageSpec
from vfl.data._problems import Problems
from vfl.data._resize import center_crop_or_pad, resample
from vfl.data._tables import match_rows, read_table

__all__ = ["load_images"]

_log = logging.getLogger(__name__)

Array = NDArray[np.float32]


class _Unreadable(Exception):
    """One patient's image could not be read; carries a reason without any path."""


def _read_dicom_file(path: Path) -> tuple[tuple[float, ...], Array]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError as exc:
        raise _Unreadable("not a DICOM file") from exc
    except Exception as exc:  # pydicom raises many types on corrupt headers
        raise _Unreadable(f"unreadable DICOM header ({type(exc).__name__})") from exc
    try:
        pixels = np.asarray(ds.pixel_array, dtype=np.float32)
    except Exception as exc:  # truncated or undecodable pixel data
        raise _Unreadable("truncated or undecodable DICOM pixel data") from exc
    try:  # pydicom parses these lazily: a corrupt value fails here, with any type
        slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
        intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
        position = getattr(ds, "ImagePositionPatient", None)
        z = float(position[2]) if position is not None else 0.0
        key = (z, float(ds.get("InstanceNumber", 0)))
    except Exception as exc:
        raise _Unreadable(f"unreadable DICOM position or rescale ({type(exc).__name__})") from exc
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite results are reported
        return key, pixels * slope + intercept


def _read_dicom(path: Path) -> Array:
    if path.is_dir():
        files = sorted(
            p
            for p in path.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.name.upper() != "DICOMDIR"
        )
        if not files:
            raise _Unreadable("empty DICOM folder")
    elif path.is_file():
        files = [path]
    else:
        raise _Unreadable("image file missing")
    slices = sorted((_read_dicom_file(f) for f in files), key=lambda kv: kv[0])
    shapes = {s.shape for _, s in slices}
    if len(shapes) > 1:
        raise _Unreadable("slices of one series differ in shape")
    if len(slices) == 1:
        return slices[0][1]
    return np.stack([s for _, s in slices])


def _read_nifti(path: Path) -> Array:
    import nibabel

    if not path.is_file():
        raise _Unreadable("image file missing")
    try:
        volume: Any = nibabel.load(path)
        data = np.asarray(volume.get_fdata(dtype=np.float32), dtype=np.float32)
    except Exception as exc:  # nibabel raises many types on truncated or corrupt files
        raise _Unreadable(f"unreadable or truncated NIfTI ({type(exc).__name__})") from exc
    while data.ndim > 2 and data.shape[-1] == 1:
        data = data[..., 0]
    # NIfTI stores (x, y, z); the towers expect (z, y, x) like a DICOM series (D, H, W).
    return np.ascontiguousarray(data.T)


def _patient_paths(
    spec: ImageSpec, id_column: str, ids: Sequence[str | None], problems: Problems, case_fold: bool
) -> list[Path | None]:
    if spec.path.is_dir():
        suffixes = [""] if spec.format == "dicom" else [".nii.gz", ".nii"]
        out: list[Path | None] = []
        for key in ids:
            found = [spec.path / f"{key}{s}" for s in suffixes] if key else []
            out.append(next((p for p in found if p.exists()), found[0] if found else None))
        return out
    table = read_table(spec.path, problems, text_columns=[id_column, spec.path_column])
    if table.empty:
        return [None] * len(ids)
    for col in (id_column, spec.path_column):
        if col not in table.columns:
            problems.add(spec.path, f"no column {col!r}")
    if problems:
        return [None] * len(ids)
    rows = match_rows(spec.path, table[id_column].tolist(), ids, problems, case_fold=case_fold)
    paths = table[spec.path_column].tolist()
    base = spec.path.parent
    return [base / str(paths[r]) if r >= 0 and paths[r] else None for r in rows]


#: numpy dtype kinds read as pixel values (bool, signed, unsigned, float); complex, text,
#: dates and records are refused rather than silently cast.
_NUMERIC_KINDS = "biuf"


def _read_arrays(spec: ImageSpec, rows: Sequence[int], problems: Problems) -> list[Array | None]:
    try:
        if spec.format == "npy":
            data = np.load(spec.path, mmap_mode="r", allow_pickle=False)
        else:
            with np.load(spec.path, allow_pickle=False) as npz:
                if spec.npz_key not in npz.files:
                    problems.add(spec.path, f"no array {spec.npz_key!r} (has {sorted(npz.files)})")
                    return [None] * len(rows)
                data = npz[spec.npz_key]
    except Exception as exc:  # numpy's header parser also raises SyntaxError, TokenError, ...
        problems.add(spec.path, f"unreadable array file ({type(exc).__name__})")
        return [None] * len(rows)
    if data.ndim == 0 or data.dtype.kind not in _NUMERIC_KINDS:
        problems.add(
            spec.path, f"expected a numeric array of images, got {data.dtype} {data.shape}"
        )
        return [None] * len(rows)
    bad = [pos for pos, r in enumerate(rows) if not 0 <= r < data.shape[0]]
    problems.add_at(spec.path, bad, f"row outside the array's first axis ({data.shape[0]})")
    skip = set(bad)
    return [None if pos in skip else _as_float32(data[r]) for pos, r in enumerate(rows)]


def _as_float32(values: Array) -> Array:
    """Cast to float32; values out of range become inf and are reported as non-finite."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(values, dtype=np.float32)


def _read_patients(
    spec: ImageSpec, paths: Sequence[Path | None], problems: Problems
) -> list[Array | None]:
    reasons: dict[str, list[int]] = defaultdict(list)
    images: list[Array | None] = []
    for pos, path in enumerate(paths):
        if path is None:
            images.append(None)
            continue
        try:
            images.append(_read_dicom(path) if spec.format == "dicom" else _read_nifti(path))
        except _Unreadable as exc:
            reasons[str(exc)].append(pos)
            images.append(None)
    for reason, positions in reasons.items():
        problems.add_at(spec.path, positions, reason)
    return images


def _most_common_shape(images: Sequence[Array | None]) -> tuple[int, ...]:
    counts = Counter(im.shape for im in images if im is not None)
    return counts.most_common(1)[0][0] if counts else (1, 1)


def _to_shape(spec: ImageSpec, images: Sequence[Array | None], problems: Problems) -> Array:
    nonfinite = [p for p, im in enumerate(images) if im is not None and not np.isfinite(im).all()]
    problems.add_at(spec.path, nonfinite, "NaN or infinite pixel values")
    target = spec.shape or _most_common_shape(images)
    by_problem: dict[str, list[int]] = defaultdict(list)
    out = np.zeros((len(images), 1, *target), dtype=np.float32)
    for pos, image in enumerate(images):
        if image is None:
            continue
        if image.ndim == len(target) + 1 and image.shape[0] == 1:
            image = image[0]
        if image.ndim != len(target):
            by_problem[f"{image.ndim}-D image where {len(target)}-D is expected"].append(pos)
        elif spec.resize == "none" and image.shape != target:
            by_problem[f"mixed shapes: image shape differs from {target} (resize = none)"].append(
                pos
            )
        elif spec.resize == "resample":
            out[pos, 0] = resample(image, target)
        else:
            out[pos, 0] = center_crop_or_pad(image, target)
    for message, positions in by_problem.items():
        problems.add_at(spec.path, positions, message)
    return out


def load_images(
    spec: ImageSpec,
    *,
    id_column: str,
    ids: Sequence[str | None],
    rows: Sequence[int],
    problems: Problems,
    case_fold: bool = False,
) -> Array:
    """Load one image per aligned position, brought to the configured shape.

    Args:
        spec: the `[data.image]` section.
        id_column: the ID column (of the manifest, as of the ID file).
        ids: the normalised ID per position (None: already reported).
        rows: the ID-file row per position (used by NPY/NPZ sources).
        problems: collector; nothing is raised here.
        case_fold: fold case when matching manifest IDs, as stage 1 did.

    Returns:
        float32 array ``(n, 1, *shape)``; meaningless where problems were recorded.
    """
    if spec.format in ("npy", "npz"):
        images = _read_arrays(spec, rows, problems)
    else:
        paths = _patient_paths(spec, id_column, ids, problems, case_fold)
        images = _read_patients(spec, paths, problems)
    out = _to_shape(spec, images, problems)
    _log.info("loaded %d images of shape %s", out.shape[0], out.shape[1:])
    return out
