"""The latent model behind the synthetic cohort: who is where, genotypes, phenotypes, response.

A pool of patients is drawn once; each site holds the shared core plus its own extra patients
drawn from the rest of the pool, so cohorts overlap only partly (extras of two sites may
coincide, as in real referral networks). Per patient:

- imaging phenotype ``p ~ N(0, 1)`` (lesion burden): lesion radius and texture contrast follow
  it with independent noise; a scanner (batch) is drawn per patient;
- genotypes at ``n_snps`` SNPs under Hardy-Weinberg with a realistic allele-frequency spectrum
  (many rare, some common; ``0.5 * Beta(0.5, 1)``); ``n_causal`` common causal SNPs give a
  standardised polygenic score ``g``, and one common pharmacogenetic variant (think of a
  loss-of-function allele of a drug-metabolising enzyme) gives ``m``, its standardised dosage;
  seven SNPs in linkage disequilibrium with it (a haplotype block) tag it, as on real arrays;
- age and sex (label party's clinical table);
- response ``~ Bernoulli(sigmoid(b0 + a p + b g + c p m + age and sex effects))``: the drug
  helps large lesions in patients who metabolise it one way and small lesions otherwise.

With ``c`` large against ``a`` and ``b`` the response is mostly an imaging x genomics
interaction: each modality alone (and averaging their predictions) sees only the main effects,
while a model seeing both embeddings at once (intermediate fusion) recovers the product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["LD_COPY", "PGX_BLOCK", "Cohort", "Effects", "draw_cohort"]

#: SNPs in the pharmacogene's haplotype block: the causal variant and its tags.
PGX_BLOCK = 8
#: Chance that a tag SNP's allele follows the causal variant's on the same haplotype (LD).
LD_COPY = 0.9


@dataclass(frozen=True)
class Effects:
    """Logit coefficients of the drug response."""

    intercept: float = -0.2
    imaging: float = 1.2
    genomics: float = 1.2
    interaction: float = 3.0
    age_per_decade: float = 0.25
    female: float = -0.2


@dataclass(frozen=True)
class Cohort:
    """The whole pool; sites pick rows of it (`members`)."""

    ids: list[str]
    phenotype: NDArray[np.float64]
    size_noise: NDArray[np.float64]
    texture_noise: NDArray[np.float64]
    scanner: NDArray[np.int64]
    genotypes: NDArray[np.int8]  # (pool, n_snps) ALT allele counts
    freqs: NDArray[np.float64]  # ALT allele frequency per SNP
    causal: NDArray[np.int64]  # the polygenic SNPs, then the pharmacogenetic variant
    genetic_score: NDArray[np.float64]
    pgx_score: NDArray[np.float64]
    age: NDArray[np.float64]
    female: NDArray[np.int64]
    response: NDArray[np.int64]
    members: dict[str, NDArray[np.int64]]


def _sites(
    rng: np.random.Generator, pool: int, n_shared: int, sizes: dict[str, int]
) -> dict[str, NDArray[np.int64]]:
    order = rng.permutation(pool)
    shared, rest = order[:n_shared], order[n_shared:]
    out = {}
    for site, size in sizes.items():
        extra = rng.choice(rest, size=size - n_shared, replace=False)
        out[site] = rng.permutation(np.concatenate([shared, extra])).astype(np.int64)
    return out


def _genotypes(
    rng: np.random.Generator, pool: int, n_snps: int, n_causal: int
) -> tuple[NDArray[np.int8], NDArray[np.float64], NDArray[np.int64]]:
    maf = 0.5 * rng.beta(0.5, 1.0, size=n_snps)
    picks = rng.choice(n_snps, size=n_causal + PGX_BLOCK, replace=False).astype(np.int64)
    maf[picks] = rng.uniform(0.25, 0.45, size=picks.size)
    freqs = np.where(rng.random(n_snps) < 0.5, maf, 1.0 - maf)  # ALT is minor or major
    haps = rng.random((pool, 2, n_snps)) < freqs
    lead, tags = picks[n_causal], picks[n_causal + 1 :]
    flip = rng.random(tags.size) < 0.5  # a tag's ALT may sit on the lead's REF haplotype
    linked = haps[:, :, lead][:, :, None] ^ flip
    haps[:, :, tags] = np.where(
        rng.random((pool, 2, tags.size)) < LD_COPY, linked, haps[:, :, tags]
    )
    freqs[tags] = np.where(flip, 1.0 - freqs[lead], freqs[lead])
    return haps.sum(axis=1).astype(np.int8), freqs, picks[: n_causal + 1]


def _score(
    genotypes: NDArray[np.int8], freqs: NDArray[np.float64], causal: NDArray[np.int64]
) -> NDArray[np.float64]:
    f = freqs[causal]
    z = (genotypes[:, causal] - 2 * f) / np.sqrt(2 * f * (1 - f))
    return np.asarray(z.sum(axis=1) / np.sqrt(causal.size), dtype=np.float64)


def draw_cohort(
    seed: int,
    *,
    n_shared: int,
    sizes: dict[str, int],
    n_snps: int,
    n_causal: int,
    n_scanners: int,
    effects: Effects | None = None,
) -> Cohort:
    """Draw the pool, the site memberships and every latent and observed variable.

    Args:
        seed: the one seed everything derives from.
        n_shared: patients present at every site.
        sizes: total patients per site (each at least `n_shared`).
        n_snps: SNPs in the VCF.
        n_causal: causal SNPs among them.
        n_scanners: scanners (batch effects) at the imaging site.
        effects: response coefficients.
    """
    eff = effects or Effects()
    rng = np.random.default_rng(seed)
    pool = n_shared + 2 * max(s - n_shared for s in sizes.values()) + 1
    numbers = rng.choice(9_000_000, size=pool, replace=False) + 1_000_000
    ids = [f"MRN-{n:07d}" for n in numbers]
    members = _sites(rng, pool, n_shared, sizes)
    genotypes, freqs, causal = _genotypes(rng, pool, n_snps, n_causal)
    g = _score(genotypes, freqs, causal[:n_causal])
    pgx = _score(genotypes, freqs, causal[n_causal:])
    p = rng.normal(size=pool)
    age = np.clip(rng.normal(62.0, 11.0, size=pool), 18, 95).round()
    female = (rng.random(pool) < 0.5).astype(np.int64)
    logit = (
        eff.intercept
        + eff.imaging * p
        + eff.genomics * g
        + eff.interaction * p * pgx
        + eff.age_per_decade * (age - 62.0) / 10.0
        + eff.female * female
    )
    response = (rng.random(pool) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return Cohort(
        ids=ids,
        phenotype=p,
        size_noise=rng.normal(size=pool),
        texture_noise=rng.normal(size=pool),
        scanner=rng.integers(0, n_scanners, size=pool).astype(np.int64),
        genotypes=genotypes,
        freqs=freqs,
        causal=causal,
        genetic_score=g,
        pgx_score=pgx,
        age=age,
        female=female,
        response=response,
        members=members,
    )
