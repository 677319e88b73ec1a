"""Preprocessing fitted locally at each site, on that site's own training positions.

Nothing here crosses the wire: each party fits its normalisation on its training rows, keeps
the statistics in a JSON file next to its checkpoints and applies the same statistics at
prediction time, so no validation or new patient leaks into the fit.

- Images: ``zscore`` (mean/std of training pixels), ``minmax`` (0.5th/99.5th percentiles of
  training pixels to 0/1, robust to a few hot pixels), ``window`` (CT window: clip to
  centre ± width/2, scale to 0..1; nothing fitted) or ``none``; optionally ``pca = k``:
  flatten and project onto k whitened principal axes of the training images (for an MLP
  tower on small cohorts, where a CNN cannot learn from a few hundred weak labels).
- Genomics: variants kept when their minor-allele frequency on the training rows is at least
  ``min_maf`` and they are not monomorphic (expression: non-constant); missing calls imputed
  with the training mean; optional standardisation; optional projection onto the top ``pca``
  principal axes of the training rows (unsupervised, so fitted locally like the rest: a
  haplotype block in linkage disequilibrium becomes one strong input instead of many weak
  ones, which small cohorts need). Prediction selects the same variants by name, so a VCF
  with extra or reordered records still works.
- Tables: per-column standardisation with training mean/std.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vfl.data._clinical import TableData
from vfl.data._config import DataConfig
from vfl.data._genomics import GenomicsMatrix
from vfl.data._loader import PartyData
from vfl.data._projection import Projection
from vfl.errors import InputDataError

__all__ = ["ColumnScaling", "ImageScaling", "Preprocessor", "fit_preprocessor"]

_log = logging.getLogger(__name__)
_VERSION = 1


@dataclass(frozen=True)
class ImageScaling:
    """Intensity mapping ``(x - shift) / scale`` (clipped to [0, 1] for a CT window).

    With ``projection`` the normalised image is flattened and projected to k principal
    components (`apply` then returns ``(n, k)``).
    """

    method: str
    shift: float
    scale: float
    projection: Projection | None = None

    def apply(self, images: NDArray[np.float32]) -> NDArray[np.float32]:
        """Normalise a batch of images (and project it, if fitted with PCA)."""
        out = (images - np.float32(self.shift)) / np.float32(self.scale)
        if self.method == "window":
            out = np.clip(out, 0.0, 1.0)
        out = np.asarray(out, dtype=np.float32)
        if self.projection is not None:
            return self.projection.apply(out.reshape(out.shape[0], -1))
        return out


@dataclass(frozen=True)
class ColumnScaling:
    """Per-column selection, imputation, standardisation and optional PCA projection.

    With ``projection`` (PCA), `apply` returns k columns named ``pc1..pck`` (`output_names`).
    """

    columns: tuple[str, ...]
    fill: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    projection: Projection | None = None

    @property
    def output_names(self) -> tuple[str, ...]:
        """Names of the columns `apply` returns."""
        if self.projection is not None:
            return tuple(f"pc{k + 1}" for k in range(len(self.projection.axes)))
        return self.columns

    def apply(
        self, values: NDArray[np.float32], names: Sequence[str], source: str
    ) -> NDArray[np.float32]:
        """Select the fitted columns by name, impute NaN and standardise.

        Raises:
            InputDataError: a fitted column is absent from the data.
        """
        index = {name: j for j, name in enumerate(names)}
        missing = [c for c in self.columns if c not in index]
        if missing:
            raise InputDataError(
                f"{source}: {len(missing)} column(s) the preprocessor was fitted on are absent "
                f"(first: {missing[0]!r})"
            )
        picked = values[:, [index[c] for c in self.columns]].copy()
        fill = np.asarray(self.fill, dtype=np.float32)
        nan_r, nan_c = np.nonzero(np.isnan(picked))
        picked[nan_r, nan_c] = fill[nan_c]
        scaled: NDArray[np.float32] = np.asarray(
            (picked - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32),
            dtype=np.float32,
        )
        return self.projection.apply(scaled) if self.projection is not None else scaled


@dataclass(frozen=True)
class Preprocessor:
    """A site's fitted preprocessing; saved as JSON for prediction."""

    image: ImageScaling | None = None
    genomics: ColumnScaling | None = None
    table: ColumnScaling | None = None

    def transform(self, data: PartyData) -> PartyData:
        """Apply the fitted statistics to freshly loaded data (training or new patients)."""
        image, genomics, table = data.image, data.genomics, data.table
        if self.image is not None and image is not None:
            image = self.image.apply(image)
        if self.genomics is not None and genomics is not None:
            values = self.genomics.apply(genomics.values, genomics.variants, "genomics")
            genomics = GenomicsMatrix(values, self.genomics.output_names, genomics.kind)
        if self.table is not None and table is not None:
            values = self.table.apply(table.values, table.columns, "clinical table")
            table = TableData(values, self.table.columns)
        return replace(data, image=image, genomics=genomics, table=table)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (statistics and variant/column names only; no patient data)."""
        out: dict[str, Any] = {"version": _VERSION}
        if self.image is not None:
            img = self.image
            out["image"] = {"method": img.method, "shift": img.shift, "scale": img.scale}
            if img.projection is not None:
                out["image"]["projection"] = img.projection.to_dict()
        for name, cols in (("genomics", self.genomics), ("table", self.table)):
            if cols is not None:
                out[name] = {
                    "columns": list(cols.columns),
                    "fill": list(cols.fill),
                    "mean": list(cols.mean),
                    "std": list(cols.std),
                }
                if cols.projection is not None:
                    out[name]["projection"] = cols.projection.to_dict()
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "preprocessor") -> Preprocessor:
        """Rebuild from `to_dict` output.

        Raises:
            InputDataError: the structure is not a preprocessor of this version.
        """
        try:
            if raw["version"] != _VERSION:
                raise InputDataError(f"{source}: unsupported version {raw['version']!r}")
            image = None
            if "image" in raw:
                img = raw["image"]
                proj = Projection.from_dict(img["projection"]) if "projection" in img else None
                image = ImageScaling(img["method"], img["shift"], img["scale"], proj)
            cols = {name: _columns(raw[name]) for name in ("genomics", "table") if name in raw}
        except (KeyError, TypeError, ValueError) as exc:
            raise InputDataError(f"{source}: not a saved preprocessor ({exc})") from exc
        return cls(image, cols.get("genomics"), cols.get("table"))

    def save(self, path: Path) -> None:
        """Write the fitted statistics as JSON."""
        path.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Preprocessor:
        """Read a preprocessor written by `save`.

        Raises:
            InputDataError: the file is missing or not valid JSON of the right shape.
        """
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputDataError(
                f"{path}: cannot read preprocessor ({type(exc).__name__})"
            ) from exc
        if not isinstance(raw, dict):
            raise InputDataError(f"{path}: not a saved preprocessor")
        return cls.from_dict(raw, str(path))


def _columns(raw: dict[str, Any]) -> ColumnScaling:
    proj = Projection.from_dict(raw["projection"]) if "projection" in raw else None
    return ColumnScaling(
        tuple(raw["columns"]), tuple(raw["fill"]), tuple(raw["mean"]), tuple(raw["std"]), proj
    )


def _fit_image(
    method: str, window: tuple[float, float] | None, train: NDArray[np.float32]
) -> ImageScaling:
    if method == "window" and window is not None:
        centre, width = window
        return ImageScaling("window", centre - width / 2, width)
    if method == "zscore":
        std = float(train.std())
        return ImageScaling("zscore", float(train.mean()), std if std > 0 else 1.0)
    if method == "minmax":
        lo, hi = (float(v) for v in np.percentile(train, [0.5, 99.5]))
        return ImageScaling("minmax", lo, hi - lo if hi > lo else 1.0)
    return ImageScaling("none", 0.0, 1.0)


def _fit_columns(
    values: NDArray[np.float32], names: Sequence[str], *, min_maf: float | None, standardize: bool
) -> ColumnScaling:
    with np.errstate(invalid="ignore"):
        observed = ~np.isnan(values)
        count = observed.sum(axis=0)
        mean = np.where(count > 0, np.nansum(values, axis=0) / np.maximum(count, 1), np.nan)
        filled = np.where(observed, values, mean)
        std = filled.std(axis=0)
    keep = (count > 0) & (std > 0)
    if min_maf is not None:
        freq = mean / 2.0
        keep &= np.minimum(freq, 1.0 - freq) >= min_maf
    idx = np.flatnonzero(keep)
    _log.info("preprocessor keeps %d of %d columns", idx.size, len(names))
    scale = std[idx] if standardize else np.ones(idx.size)
    centre = mean[idx] if standardize else np.zeros(idx.size)
    return ColumnScaling(
        columns=tuple(names[int(i)] for i in idx),
        fill=tuple(float(v) for v in mean[idx]),
        mean=tuple(float(v) for v in centre),
        std=tuple(float(v) for v in scale),
    )


def fit_preprocessor(
    config: DataConfig, data: PartyData, train: Sequence[int] | NDArray[np.int64]
) -> Preprocessor:
    """Fit every configured normalisation on the training positions only.

    Args:
        config: the `[data]` section (methods, window, ``min_maf``, ``standardize``, ``pca``).
        data: the loaded, not yet normalised data.
        train: the training positions (indices into `data`).

    Raises:
        InputDataError: no training positions, or no variant/column survives the filters.
    """
    idx = np.asarray(train, dtype=np.int64)
    if idx.size == 0:
        raise InputDataError("cannot fit preprocessing on zero training positions")
    image = genomics = table = None
    if config.image is not None and data.image is not None:
        image = _fit_image(config.image.normalize, config.image.window, data.image[idx])
        if config.image.pca:
            scaled = image.apply(data.image[idx])
            flat = scaled.reshape(idx.size, -1)
            image = replace(image, projection=Projection.fit(flat, config.image.pca))
    if config.genomics is not None and data.genomics is not None:
        g = config.genomics
        maf = g.min_maf if data.genomics.kind == "dosage" else None
        train_values = data.genomics.values[idx]
        genomics = _fit_columns(
            train_values, data.genomics.variants, min_maf=maf, standardize=g.standardize
        )
        if not genomics.columns:
            raise InputDataError(
                f"{g.path}: no variant passes min_maf = {g.min_maf} on the training rows"
            )
        if g.pca:
            scaled = genomics.apply(train_values, data.genomics.variants, "training rows")
            genomics = replace(genomics, projection=Projection.fit(scaled, g.pca))
    if config.table is not None and data.table is not None:
        table = _fit_columns(
            data.table.values[idx],
            data.table.columns,
            min_maf=None,
            standardize=config.table.standardize,
        )
    return Preprocessor(image, genomics, table)
