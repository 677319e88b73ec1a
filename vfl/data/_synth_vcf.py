"""Write a VCF 4.2 text file from a genotype matrix (the synthetic genomics lab's output)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["write_vcf"]

_BASES = np.array(list("ACGT"))
_CALLS = np.array(["0/0", "0/1", "1/1"])
#: Fraction of genotype calls written as missing ("./."), as in real array data.
MISSING_RATE = 0.003


def _sites(rng: np.random.Generator, n: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    chrom = np.sort(rng.integers(1, 23, size=n))
    pos = np.zeros(n, dtype=np.int64)
    for c in np.unique(chrom):
        idx = np.flatnonzero(chrom == c)
        pos[idx] = np.sort(rng.choice(50_000_000, size=idx.size, replace=False) + 10_000)
    return chrom.astype(np.int64), pos


def write_vcf(
    path: Path,
    samples: Sequence[str],
    genotypes: NDArray[np.int8],
    freqs: NDArray[np.float64],
    rng: np.random.Generator,
) -> None:
    """Write bi-allelic SNPs (one per column of `genotypes`) plus two multi-allelic sites.

    Args:
        path: the VCF to write (plain text).
        samples: sample names, one per row of `genotypes`.
        genotypes: ``(n_samples, n_snps)`` ALT allele counts.
        freqs: ALT allele frequency per SNP (written as INFO AF).
        rng: randomness for positions, alleles, IDs and missing calls.
    """
    n_snps = genotypes.shape[1]
    chrom, pos = _sites(rng, n_snps)
    ref_idx: list[int] = np.asarray(rng.integers(0, 4, size=n_snps)).tolist()
    shift: list[int] = np.asarray(rng.integers(1, 4, size=n_snps)).tolist()
    alleles = [
        (str(_BASES[r]), str(_BASES[(r + s) % 4])) for r, s in zip(ref_idx, shift, strict=True)
    ]
    numbers = np.asarray(rng.choice(90_000_000, size=n_snps, replace=False)) + 1_000_000
    rsids = [f"rs{n}" for n in numbers.tolist()]
    calls = _CALLS[genotypes.T]
    calls[rng.random(calls.shape) < MISSING_RATE] = "./."
    header = [
        "##fileformat=VCFv4.2",
        "##source=vfl-synth",
        *(f"##contig=<ID={c},length=250000000>" for c in range(1, 23)),
        '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency in the source cohort">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"])
        + "\t"
        + "\t".join(samples),
    ]
    with path.open("w", encoding="ascii") as fh:
        fh.write("\n".join(header) + "\n")
        for j in range(n_snps):
            ref, alt = alleles[j]
            fixed = [str(chrom[j]), str(pos[j]), rsids[j], ref, alt, ".", "PASS"]
            fixed += [f"AF={freqs[j]:.4f}", "GT"]
            fh.write("\t".join(fixed) + "\t" + "\t".join(calls[j].tolist()) + "\n")
        for k in range(2):  # multi-allelic sites: readers must skip or split them
            multi = rng.choice(
                ["0/0", "0/1", "0/2", "1/2"], size=len(samples), p=[0.7, 0.15, 0.1, 0.05]
            )
            fixed = ["22", str(60_000_000 + k), ".", "A", "C,G", ".", "PASS", "AF=0.2,0.1", "GT"]
            fh.write("\t".join(fixed) + "\t" + "\t".join(multi.tolist()) + "\n")
