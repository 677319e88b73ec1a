"""Synthetic CT slices and their DICOM files.

Each patient gets one axial 2-D slice (Hounsfield units): air around an elliptic body of soft
tissue, and a lesion whose radius and texture contrast follow the latent imaging phenotype.
Every scanner adds its own intensity offset, gain and noise level (site batch effects), and
writes its own Manufacturer tag. Files are CT Image Storage, explicit VR little endian, 12-bit
stored values with RescaleIntercept -1024, as real scanners write them.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["SCANNERS", "render_slices", "write_dicom", "write_dicoms"]

#: (manufacturer, HU offset, gain, noise sd) per scanner.
SCANNERS: tuple[tuple[str, float, float, float], ...] = (
    ("SIEMENS", 0.0, 1.00, 10.0),
    ("GE MEDICAL SYSTEMS", 30.0, 0.92, 16.0),
    ("Philips", -25.0, 1.08, 13.0),
    ("TOSHIBA", 15.0, 0.96, 12.0),
)


def _smooth_noise(rng: np.random.Generator, n: int, size: int, sigma: float) -> NDArray[np.float64]:
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(rng.normal(size=(n, size, size)), sigma=(0, sigma, sigma))
    std = field.std(axis=(1, 2), keepdims=True)
    return np.asarray(field / np.where(std > 0, std, 1.0), dtype=np.float64)


def render_slices(
    rng: np.random.Generator,
    phenotype: NDArray[np.float64],
    size_noise: NDArray[np.float64],
    texture_noise: NDArray[np.float64],
    scanner: NDArray[np.int64],
    size: int = 64,
) -> NDArray[np.float32]:
    """Render one slice per patient, in HU, shape ``(n, size, size)``."""
    n = phenotype.size
    scale = size / 64.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    c = (size - 1) / 2.0
    body = ((yy - c) / (28 * scale)) ** 2 + ((xx - c) / (24 * scale)) ** 2 <= 1.0
    cy = c + rng.uniform(-5, 5, size=n) * scale
    cx = c + rng.uniform(-4, 4, size=n) * scale
    radius = np.clip(6.5 + 2.2 * (0.85 * phenotype + 0.5 * size_noise), 2.0, 13.0) * scale
    dist = np.hypot(yy[None] - cy[:, None, None], xx[None] - cx[:, None, None])
    mask = 1.0 / (1.0 + np.exp(-(radius[:, None, None] - dist) / 0.7))
    contrast = np.clip(18.0 + 10.0 * (0.7 * phenotype + 0.7 * texture_noise), 0.0, None)
    lesion = 95.0 + contrast[:, None, None] * _smooth_noise(rng, n, size, 1.2 * scale)
    tissue = 40.0 + 8.0 * _smooth_noise(rng, n, size, 3.0 * scale)
    hu = np.where(body[None], (1 - mask) * tissue + mask * lesion, -1000.0)
    offset, gain, noise = (
        np.asarray([row[k] for row in SCANNERS], dtype=np.float64)[scanner][:, None, None]
        for k in (1, 2, 3)
    )
    hu = gain * hu + offset + noise * rng.normal(size=hu.shape)
    return np.asarray(np.clip(hu, -1024, 3071), dtype=np.float32)


#: pydicom's UID root; synthetic UIDs append "1" and 30 random digits (fixed width, no
#: leading zero in the component, 58 bytes with padding).
_UID_ROOT = "1.2.826.0.1.3680043.8.498."


def _uid(digits: str) -> str:
    return f"{_UID_ROOT}1{digits}"


def _dataset(hu_shape: tuple[int, ...], patient_id: str, scanner: int, uids: list[str]) -> Any:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = UID(uids[0])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID = uids
    ds.PatientID = patient_id
    ds.Modality = "CT"
    ds.Manufacturer = SCANNERS[scanner][0]
    ds.InstanceNumber = 1
    ds.ImagePositionPatient = [0.0, 0.0, 0.0]
    ds.PixelSpacing = [0.8, 0.8]
    ds.SliceThickness = 2.5
    ds.Rows, ds.Columns = hu_shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    ds.PixelData = np.zeros(hu_shape, dtype="<u2").tobytes()
    return ds


def _stored(hu: NDArray[np.float32]) -> bytes:
    return np.clip(np.rint(hu + 1024), 0, 4095).astype("<u2").tobytes()


def write_dicom(
    path: Path, hu: NDArray[np.float32], patient_id: str, scanner: int, uid_digits: list[str]
) -> None:
    """Write one slice as a CT DICOM file (pydicom), with study/series/instance UIDs.

    Args:
        path: the file to write.
        hu: the slice in Hounsfield units.
        patient_id: the PatientID tag.
        scanner: index into `SCANNERS` (Manufacturer tag).
        uid_digits: three strings of 30 digits: instance, study and series UIDs.
    """
    ds = _dataset(hu.shape, patient_id, scanner, [_uid(d) for d in uid_digits])
    ds.PixelData = _stored(hu)
    ds.save_as(path, enforce_file_format=True)


def write_dicoms(
    paths: list[Path],
    slices: NDArray[np.float32],
    patient_ids: list[str],
    scanners: list[int],
    rng: np.random.Generator,
) -> None:
    """Write many slices fast: pydicom encodes one template per scanner, then bytes are patched.

    The template holds placeholder UIDs and patient ID of the final width; each file swaps in
    its own values and pixel data (the last element), so files are byte-for-byte what
    `write_dicom` would produce. IDs of another width fall back to `write_dicom`.
    """
    holders = [f"{k:030d}" for k in (1, 2, 3)]
    width = max((len(p) for p in patient_ids), default=0)
    pid_holder = "#" * width
    templates: dict[int, bytes] = {}
    n_pixels = int(np.prod(slices.shape[1:])) * 2
    for path, hu, pid, scanner in zip(paths, slices, patient_ids, scanners, strict=True):
        digits = ["".join(map(str, rng.integers(0, 10, size=30))) for _ in range(3)]
        if len(pid) != width:
            write_dicom(path, hu, pid, scanner, digits)
            continue
        if scanner not in templates:
            buffer = io.BytesIO()
            ds = _dataset(hu.shape, pid_holder, scanner, [_uid(h) for h in holders])
            ds.save_as(buffer, enforce_file_format=True)
            templates[scanner] = buffer.getvalue()[:-n_pixels]
        header = templates[scanner].replace(pid_holder.encode(), pid.encode("ascii"))
        for holder, value in zip(holders, digits, strict=True):
            header = header.replace(_uid(holder).encode(), _uid(value).encode())
        path.write_bytes(header + _stored(hu))
