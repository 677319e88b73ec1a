"""Synthetic CT slices and their DICOM files.

Each patient gets one axial 2-D slice (Hounsfield units): air around an elliptic body of soft
tissue, and a lesion whose radius and texture contrast follow the latent imaging phenotype.
Every scanner adds its own intensity offset, gain and noise level (site batch effects), and
writes its own Manufacturer tag. Files are CT Image Storage, explicit VR little endian, 12-bit
stored values with RescaleIntercept -1024, as real scanners write them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["SCANNERS", "render_slices", "write_dicom"]

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


def write_dicom(path: Path, hu: NDArray[np.float32], patient_id: str, scanner: int) -> None:
    """Write one slice as a CT DICOM file with a fresh study/series/instance UID."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = patient_id
    ds.Modality = "CT"
    ds.Manufacturer = SCANNERS[scanner][0]
    ds.InstanceNumber = 1
    ds.ImagePositionPatient = [0.0, 0.0, 0.0]
    ds.PixelSpacing = [0.8, 0.8]
    ds.SliceThickness = 2.5
    ds.Rows, ds.Columns = hu.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    ds.PixelData = np.clip(np.rint(hu + 1024), 0, 4095).astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
