"""Writers for small real input files (DICOM, NIfTI, VCF, CSV) used by the data tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from vfl.config import load_config
from vfl.data import DataConfig, PartyData, load_data_config, load_party_data

VCF_HEADER = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=1,length=1000000>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
)


def dicom_slice(path: Path, hu: np.ndarray, *, z: float = 0.0, instance: int = 1) -> Path:
    """Write one CT slice (stored = HU + 1024, RescaleIntercept -1024)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [0.0, 0.0, z]
    ds.Rows, ds.Columns = hu.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    ds.PixelData = (np.asarray(hu) + 1024).astype("<u2").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def truncate(path: Path, keep_bytes: int) -> None:
    """Cut a file short, as an interrupted copy would."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - keep_bytes])


def ids_csv(target: Path, ids: list[str], **columns: Sequence[object]) -> Path:
    """Write an ID file (patient_id plus optional columns)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"patient_id": ids, **columns}).to_csv(target, index=False)
    return target


def vcf(path: Path, samples: list[str], records: list[tuple[str, str, list[str]]]) -> Path:
    """Write a VCF: records are (ID, ALT, genotype calls per sample)."""
    lines = [
        VCF_HEADER + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples)
    ]
    for k, (vid, alt, calls) in enumerate(records):
        fixed = ["1", str(100 * (k + 1)), vid, "A", alt, ".", "PASS", ".", "GT"]
        lines.append("\t".join(fixed + calls))
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


def site_config(config_path: Path) -> DataConfig:
    """A party's `[data]` config, read from its TOML as stage 2 will."""
    cfg = load_config(config_path)
    return load_data_config(
        cfg.extra["data"],
        base_dir=config_path.parent,
        ids_file=cfg.align.ids_file,
        id_column=cfg.align.id_column,
        case_fold=cfg.align.case_fold,
    )


def load_site(config_path: Path, rows: list[int] | None = None) -> PartyData:
    """Load a party's data exactly as stage 2 will: from its own TOML config."""
    return load_party_data(site_config(config_path), rows)
