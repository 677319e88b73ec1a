"""Fixtures for the data-layer tests: one small synthetic cohort shared by the module tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from vfl.data.synth import SynthResult, SynthSpec, generate_cohort


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    """A cohort big enough to show the fusion effect, small enough to write in seconds."""
    spec = SynthSpec(n_shared=1000, n_imaging=1080, n_genomics=1100, n_label=1060, seed=7)
    return generate_cohort(spec, tmp_path_factory.mktemp("cohort") / "c")


@pytest.fixture()
def out(tmp_path: Path) -> Path:
    return tmp_path
