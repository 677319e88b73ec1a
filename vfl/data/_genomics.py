"""Genomics loaders: VCF to a 0/1/2 dosage matrix, or a CSV/Parquet dosage/expression matrix.

VCF reading uses cyvcf2 (htslib underneath, shipped inside its manylinux wheels, so nothing
to build here; fast, widely used and maintained). Each patient's VCF sample is named by the ID
file's ``sample_column`` (biobank sample IDs rarely equal the MRN) or, without it, by the ID
itself. Dosage is the number of ALT alleles; multi-allelic sites are skipped (counted in the
log) and missing calls become NaN, imputed by the fitted preprocessor with the training mean.
Allele-frequency filtering is fitted too, on the training rows only (`vfl.data.fit_preprocessor`).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from vfl.data._config import GenomicsSpec
from vfl.data._problems import Problems
from vfl.data._tables import match_rows, read_table, to_float32
from vfl.data._vcf_lines import VcfLayout, VcfLineError, scan_vcf_lines

if TYPE_CHECKING:
    from cyvcf2 import VCF

__all__ = ["GenomicsMatrix", "load_genomics"]

_log = logging.getLogger(__name__)

_UNKNOWN = 3  # cyvcf2 gt_types code for a missing call when gts012=True
_OUT_OF_RANGE = "values beyond the float32 range (±3.4e38)"


@dataclass(frozen=True)
class GenomicsMatrix:
    """Per aligned position, one row of variant dosages (or expression values).

    Attributes:
        values: float32 ``(n, p)``; NaN marks a missing VCF call.
        variants: the p column names (VCF ID, or ``CHROM:POS:REF:ALT`` when it has none).
        kind: ``"dosage"`` (0/1/2) or ``"expression"``.
    """

    values: NDArray[np.float32]
    variants: tuple[str, ...]
    kind: str


def _variant_name(record: object) -> str:
    vid = getattr(record, "ID", None)
    if vid:
        return str(vid)
    chrom, pos = getattr(record, "CHROM", "?"), getattr(record, "POS", 0)
    ref, alt = getattr(record, "REF", "?"), getattr(record, "ALT", ["?"])
    return f"{chrom}:{pos}:{ref}:{alt[0]}"


def _declare_contigs(vcf: VCF, layout: VcfLayout) -> str | None:
    """Declare in the header every contig a record names.

    An undeclared contig is a crash risk (`vfl.data._vcf_lines` says why). Returns a problem
    message if one cannot be declared.
    """
    declared = {h.info().get("ID") for h in vcf.header_iter() if h.type == "CONTIG"}
    missing = sorted(layout.contigs - declared)
    for name in missing:
        vcf.add_to_header(f"##contig=<ID={name}>")
    if missing:
        _log.info("VCF: declared %d contig(s) missing from the header", len(missing))
        declared = {h.info().get("ID") for h in vcf.header_iter() if h.type == "CONTIG"}
    if not layout.contigs <= declared:
        return "a record names a contig that cannot be declared in the header"
    return None


def _open_vcf(path: Path, problems: Problems) -> VCF | None:
    """Open a VCF and read its header, or report why it cannot be read."""
    from cyvcf2 import VCF

    try:
        vcf = VCF(str(path), gts012=True, lazy=True, threads=1)
        _ = list(vcf.samples)  # decoded from the header: may not be UTF-8
    except Exception as exc:  # cyvcf2 raises OSError and bare Exception on bad headers
        problems.add(path, f"unreadable VCF header ({type(exc).__name__})")
        return None
    return vcf


def _check_lines(vcf: VCF, path: Path, problems: Problems) -> VcfLayout | None:
    """Scan every record line and declare its contigs, or report the first bad line."""
    try:
        layout = scan_vcf_lines(path)
        why = None if layout.binary else _declare_contigs(vcf, layout)
    except VcfLineError as exc:
        why = f"malformed VCF, {exc}"
    except (OSError, EOFError, zlib.error) as exc:  # gzip stream cut short or corrupt
        why = f"unreadable VCF ({type(exc).__name__})"
    except Exception as exc:  # a contig in the header does not decode
        why = f"unreadable VCF header ({type(exc).__name__})"
    if why is not None:
        problems.add(path, why)
        return None
    return layout


def _read_records(
    vcf: VCF, layout: VcfLayout, path: Path, cols: NDArray[np.int64], problems: Problems
) -> GenomicsMatrix | None:
    names, rows, multi = [], [], 0
    try:
        for record in vcf:
            if len(record.ALT) != 1:
                multi += 1
                continue
            names.append(_variant_name(record))
            rows.append(np.asarray(record.gt_types, dtype=np.int8)[np.maximum(cols, 0)])
    except Exception as exc:  # htslib parse error mid-file: a malformed field
        k = len(rows) + multi + 1
        where = f"record {k}" if layout.binary else f"line {layout.header_lines + k}"
        problems.add(path, f"malformed VCF record at {where} ({type(exc).__name__})")
        return None
    if not rows:
        problems.add(path, "no bi-allelic variants")
        return None
    codes = np.stack(rows, axis=1)
    values = codes.astype(np.float32)
    values[codes == _UNKNOWN] = np.nan
    _log.info("VCF: %d bi-allelic variants, %d multi-allelic skipped", len(names), multi)
    return GenomicsMatrix(values, tuple(names), "dosage")


def _read_vcf(
    path: Path, samples: Sequence[str | None], problems: Problems, case_fold: bool
) -> GenomicsMatrix:
    empty = GenomicsMatrix(np.zeros((len(samples), 0), np.float32), (), "dosage")
    if not path.is_file():
        problems.add(path, "file not found")
        return empty
    vcf = _open_vcf(path, problems)
    if vcf is None:
        return empty
    try:
        cols = match_rows(
            path, list(vcf.samples), samples, problems, case_fold=case_fold, what="sample"
        )
        layout = _check_lines(vcf, path, problems)
        matrix = None if layout is None else _read_records(vcf, layout, path, cols, problems)
    finally:
        vcf.close()
    return empty if matrix is None else matrix


def _read_matrix(
    spec: GenomicsSpec,
    id_column: str,
    ids: Sequence[str | None],
    problems: Problems,
    case_fold: bool,
) -> GenomicsMatrix:
    frame = read_table(spec.path, problems, text_columns=[id_column])
    empty = GenomicsMatrix(np.zeros((len(ids), 0), np.float32), (), spec.values)
    if frame.empty:
        return empty
    if id_column not in frame.columns:
        problems.add(spec.path, f"no column {id_column!r}")
        return empty
    features = [c for c in frame.columns if c != id_column]
    text = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        problems.add(spec.path, f"non-numeric columns: {', '.join(map(str, text))}")
        return empty
    rows = match_rows(spec.path, frame[id_column].tolist(), ids, problems, case_fold=case_fold)
    values, huge = to_float32(frame[features].to_numpy(dtype=np.float64)[np.maximum(rows, 0)])
    ok = rows >= 0
    bad = np.flatnonzero(ok & ~(np.isfinite(values) | huge).all(axis=1))
    problems.add_at(spec.path, bad.tolist(), "NaN or infinite values")
    problems.add_at(spec.path, np.flatnonzero(ok & huge.any(axis=1)).tolist(), _OUT_OF_RANGE)
    if spec.values == "dosage":
        outside = ok & np.isfinite(values).all(axis=1) & ((values < 0) | (values > 2)).any(axis=1)
        problems.add_at(spec.path, np.flatnonzero(outside).tolist(), "dosage outside [0, 2]")
    return GenomicsMatrix(values, tuple(str(c) for c in features), spec.values)


def load_genomics(
    spec: GenomicsSpec,
    *,
    id_column: str,
    keys: Sequence[str | None],
    problems: Problems,
    case_fold: bool = False,
) -> GenomicsMatrix:
    """Load one row of genomic values per aligned position.

    Args:
        spec: the `[data.genomics]` section.
        id_column: the matrix's ID column (``spec.id_column`` overrides it).
        keys: per position, the VCF sample name or the normalised ID (None: already reported).
        problems: collector; nothing is raised here.
        case_fold: fold case when matching, as stage 1 did.
    """
    if spec.format == "vcf":
        return _read_vcf(spec.path, keys, problems, case_fold)
    return _read_matrix(spec, spec.id_column or id_column, keys, problems, case_fold)
