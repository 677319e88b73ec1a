"""The party TOML's `[data]` section: what this party feeds into stage 2, and how.

Example (an imaging site)::

    [data]                        # ids_file / id_column default to [align]'s
    [data.image]
    format = "dicom"              # dicom | nifti | npy | npz
    path = "imaging/manifest.csv" # manifest (ID column + `path_column`), or a folder
    path_column = "path"          #   holding one sub-folder (DICOM) or <ID>.nii[.gz] per patient
    shape = [64, 64]              # tower input shape: 2 (H, W) or 3 (D, H, W) ints
    resize = "crop"               # crop (centre crop/pad) | resample (linear) | none
    normalize = "window"          # zscore | minmax (fitted on training rows) | window | none
    window = [40.0, 400.0]        # CT window centre and width (HU), for normalize = "window"
    pca = 0                       # k > 0: k principal components of the training images

A genomics lab uses ``[data.genomics]`` (``format = "vcf"`` with ``path``, ``sample_column``,
``min_maf``, ``standardize``, ``pca`` (0: off; k: project onto k principal axes fitted on the
site's training rows); or ``format = "matrix"`` for a CSV/Parquet dosage or expression matrix
with ``values = "dosage" | "expression"``). The label party uses ``[data.labels]``
(``path``, ``column``, ``task = "binary" | "multiclass" | "regression"``, ``classes``) and may
add ``[data.table]`` (``path``, ``columns``, ``standardize``) for a clinical table. Relative
paths are resolved against the config file's folder. Every problem is collected; nothing
raises until the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vfl.data._section import Section
from vfl.errors import ConfigError

__all__ = [
    "DataConfig",
    "GenomicsSpec",
    "ImageSpec",
    "LabelSpec",
    "TableSpec",
    "load_data_config",
    "parse_data_config",
]

_PLACEHOLDER = Path(".")


@dataclass(frozen=True)
class ImageSpec:
    """Where the images are and how to bring them to the tower's input shape."""

    format: str
    path: Path
    path_column: str = "path"
    npz_key: str = "images"
    shape: tuple[int, ...] | None = None
    resize: str = "crop"
    normalize: str = "zscore"
    window: tuple[float, float] | None = None
    pca: int = 0


@dataclass(frozen=True)
class GenomicsSpec:
    """A VCF or a CSV/Parquet matrix, and the variant filters."""

    format: str
    path: Path
    sample_column: str | None = None
    id_column: str | None = None
    values: str = "dosage"
    min_maf: float = 0.01
    standardize: bool = True
    pca: int = 0


@dataclass(frozen=True)
class TableSpec:
    """A clinical (or any numeric) table keyed by patient ID."""

    path: Path
    id_column: str | None = None
    columns: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    standardize: bool = True


@dataclass(frozen=True)
class LabelSpec:
    """The outcome column at the label party."""

    path: Path
    column: str
    id_column: str | None = None
    task: str = "binary"
    classes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class DataConfig:
    """The whole `[data]` section."""

    ids_file: Path
    id_column: str
    case_fold: bool = False
    image: ImageSpec | None = None
    genomics: GenomicsSpec | None = None
    table: TableSpec | None = None
    labels: LabelSpec | None = None


def _image(s: Section) -> ImageSpec:
    s.check_keys(
        [
            "format",
            "path",
            "path_column",
            "npz_key",
            "shape",
            "resize",
            "normalize",
            "window",
            "pca",
        ]
    )
    spec = ImageSpec(
        format=s.choice("format", ["dicom", "nifti", "npy", "npz"], "dicom"),
        path=s.path("path", required=True) or _PLACEHOLDER,
        path_column=s.text("path_column", "path") or "path",
        npz_key=s.text("npz_key", "images") or "images",
        shape=s.ints("shape", lengths=[2, 3]),
        resize=s.choice("resize", ["crop", "resample", "none"], "crop"),
        normalize=s.choice("normalize", ["zscore", "minmax", "window", "none"], "zscore"),
        window=None,
        pca=s.whole("pca", 0, low=0, high=10_000),
    )
    window = s.floats("window", 2)
    if spec.normalize == "window" and window is None:
        s.problem("window", 'is required with normalize = "window" ([centre, width])')
    if window is not None and window[1] <= 0:
        s.problem("window", "width must be positive")
    if spec.resize != "none" and spec.shape is None and s.has("resize"):
        s.problem("shape", f'is required with resize = "{spec.resize}"')
    resize = spec.resize if spec.shape is not None else "none"
    win = (window[0], window[1]) if window is not None else None
    return replace(spec, window=win, resize=resize)


def _genomics(s: Section) -> GenomicsSpec:
    keys = ["format", "path", "sample_column", "id_column", "values", "min_maf", "standardize"]
    keys.append("pca")
    s.check_keys(keys)
    fmt = s.choice("format", ["vcf", "matrix"], "vcf")
    if fmt == "vcf" and s.has("values"):
        s.problem("values", 'applies to format = "matrix" only')
    return GenomicsSpec(
        format=fmt,
        path=s.path("path", required=True) or _PLACEHOLDER,
        sample_column=s.text("sample_column"),
        id_column=s.text("id_column"),
        values=s.choice("values", ["dosage", "expression"], "dosage"),
        min_maf=s.number("min_maf", 0.01, low=0.0, high=0.5),
        standardize=s.flag("standardize", True),
        pca=s.whole("pca", 0, low=0, high=10_000),
    )


def _table(s: Section) -> TableSpec:
    s.check_keys(["path", "id_column", "columns", "exclude", "standardize"])
    return TableSpec(
        path=s.path("path", required=True) or _PLACEHOLDER,
        id_column=s.text("id_column"),
        columns=s.strings("columns"),
        exclude=s.strings("exclude") or (),
        standardize=s.flag("standardize", True),
    )


def _labels(s: Section) -> LabelSpec:
    s.check_keys(["path", "column", "id_column", "task", "classes"])
    task = s.choice("task", ["binary", "multiclass", "regression"], "binary")
    classes = s.strings("classes")
    if task == "binary" and classes is not None and len(classes) != 2:
        s.problem("classes", "a binary task needs exactly 2 classes (negative, positive)")
    if task == "regression" and classes is not None:
        s.problem("classes", "does not apply to task = 'regression'")
    column = s.text("column")
    if column is None:
        s.problem("column", "is required")
    return LabelSpec(
        path=s.path("path", required=True) or _PLACEHOLDER,
        column=column or "label",
        id_column=s.text("id_column"),
        task=task,
        classes=("0", "1") if task == "binary" and classes is None else classes,
    )


def parse_data_config(
    section: Mapping[str, Any],
    *,
    base_dir: Path,
    ids_file: Path | None = None,
    id_column: str | None = None,
    case_fold: bool = False,
) -> tuple[DataConfig | None, list[str]]:
    """Parse `[data]`, collecting every problem.

    Args:
        section: the `[data]` table as loaded by `tomllib`.
        base_dir: folder relative paths are resolved against (the config file's).
        ids_file: the `[align] ids_file`, used unless `[data]` names its own.
        id_column: the `[align] id_column`, likewise.
        case_fold: the `[align] case_fold`, so IDs are matched as stage 1 matched them.

    Returns:
        The config (None when there were problems) and the list of problems, each prefixed
        with the key it concerns, for `vfl.config` to report together with its own.
    """
    problems: list[str] = []
    s = Section(section, "data", base_dir, problems)
    s.check_keys(["ids_file", "id_column", "image", "genomics", "table", "labels"])
    ids = s.path("ids_file") or ids_file
    col = s.text("id_column") or id_column
    if ids is None:
        s.problem("ids_file", "is required (or set [align] ids_file)")
    if col is None:
        s.problem("id_column", "is required (or set [align] id_column)")
    parts = {name: s.table(name) for name in ("image", "genomics", "table", "labels")}
    image = _image(parts["image"]) if parts["image"] else None
    genomics = _genomics(parts["genomics"]) if parts["genomics"] else None
    table = _table(parts["table"]) if parts["table"] else None
    labels = _labels(parts["labels"]) if parts["labels"] else None
    if not any(parts.values()) and not problems:
        s.problem("image|genomics|table|labels", "at least one data source is required")
    if problems or ids is None or col is None:
        return None, problems
    config = DataConfig(ids, col, case_fold, image, genomics, table, labels)
    return config, problems


def load_data_config(section: Mapping[str, Any], *, base_dir: Path, **align: Any) -> DataConfig:
    """Parse `[data]` or raise one `ConfigError` listing every problem.

    Args:
        section: the `[data]` table.
        base_dir: folder relative paths are resolved against.
        **align: ``ids_file``, ``id_column``, ``case_fold`` taken from `[align]`.

    Raises:
        ConfigError: listing every problem found.
    """
    config, problems = parse_data_config(section, base_dir=base_dir, **align)
    if config is None:
        raise ConfigError(problems, source="[data]")
    return config
