"""On the synthetic cohort, intermediate fusion beats each modality and late fusion.

Everything goes through the real files and loaders: each site loads its own data through its
own config, fits its preprocessing on the training positions only and (imaging) reduces its
images to a few unsupervised local components, as a pretrained tower would. The label party's
models then see: one modality; the average of the two single-modality predictions (late
fusion); or both embeddings at once (intermediate fusion), where products of the two sites'
embeddings can express the imaging x genomics interaction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from data_helpers import site_config
from numpy.typing import NDArray
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from vfl.data import PartyData, fit_preprocessor, load_party_data
from vfl.data.synth import SynthResult

MARGIN = 0.08


def _aligned_rows(cohort: SynthResult) -> dict[str, list[int]]:
    """What stage 1 yields: shared IDs sorted, each party's row per position."""
    ids = {
        site: pd.read_csv(path, dtype=str)["patient_id"].tolist()
        for site, path in cohort.id_files.items()
    }
    shared = sorted(set.intersection(*(set(v) for v in ids.values())))
    return {site: [v.index(s) for s in shared] for site, v in ids.items()}


def _standardize(x: NDArray[np.float64], train: NDArray[np.int64]) -> NDArray[np.float64]:
    out = (x - x[train].mean(axis=0)) / (x[train].std(axis=0) + 1e-9)
    return np.asarray(out, dtype=np.float64)


def _site_data(
    cohort: SynthResult, site: str, rows: list[int], train: NDArray[np.int64]
) -> PartyData:
    """Load one site's aligned rows and normalise with statistics of its training rows."""
    config = site_config(cohort.configs[site])
    data = load_party_data(config, rows)
    return fit_preprocessor(config, data, train).transform(data)


def _components(x: NDArray[np.floating], train: NDArray[np.int64], k: int) -> NDArray[np.float64]:
    """The first k principal components: as the site delivered them, or fitted here."""
    flat = np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1)
    if flat.shape[1] <= 8:  # the site's preprocessor already projected (`pca = 8`)
        return flat[:, :k]
    return np.asarray(PCA(k, random_state=0).fit(flat[train]).transform(flat), dtype=np.float64)


def _fit_predict(
    x: NDArray[np.float64], y: NDArray[np.int64], train: NDArray[np.int64], test: NDArray[np.int64]
) -> NDArray[np.float64]:
    model = LogisticRegression(C=0.1, max_iter=3000).fit(x[train], y[train])
    return np.asarray(model.predict_proba(x[test])[:, 1], dtype=np.float64)


def fusion_aucs(cohort: SynthResult) -> dict[str, float]:
    rows = _aligned_rows(cohort)
    n = len(rows["label"])
    perm = np.random.default_rng(0).permutation(n)
    train, test = perm[: int(0.7 * n)], perm[int(0.7 * n) :]
    imaging = _site_data(cohort, "imaging", rows["imaging"], train).image
    genomics = _site_data(cohort, "genomics", rows["genomics"], train).genomics
    labels = _site_data(cohort, "label", rows["label"], train).labels
    assert imaging is not None and genomics is not None and labels is not None
    y = np.asarray(labels.values, dtype=np.int64)
    e_img = _standardize(_components(imaging, train, 4), train)
    g = np.asarray(genomics.values, dtype=np.float64)
    e_gen = _standardize(_components(g, train, 4), train)
    products = (e_img[:, :, None] * e_gen[:, None, :]).reshape(n, -1)
    p_img = _fit_predict(e_img, y, train, test)
    p_gen = _fit_predict(g, y, train, test)
    p_joint = _fit_predict(np.c_[e_img, g, products], y, train, test)
    yt = y[test]
    return {
        "imaging": float(roc_auc_score(yt, p_img)),
        "genomics": float(roc_auc_score(yt, p_gen)),
        "late": float(roc_auc_score(yt, (p_img + p_gen) / 2)),
        "joint": float(roc_auc_score(yt, p_joint)),
    }


def test_intermediate_fusion_beats_single_modalities_and_late_fusion(
    small_cohort: SynthResult,
) -> None:
    auc = fusion_aucs(small_cohort)
    best_other = max(auc["imaging"], auc["genomics"], auc["late"])
    assert auc["joint"] > 0.7, auc
    assert auc["joint"] >= best_other + MARGIN, auc
