"""A streaming check of a VCF's record lines, run before htslib (via cyvcf2) parses them.

Why: when a record names a contig that the header does not declare, htslib declares it on the
fly and flags the record ``BCF_ERR_CTG_UNDEF``; cyvcf2 (0.35) accepts every record so flagged,
even when htslib then failed to parse the rest of the line (a bad genotype, an empty field).
Reading that half-parsed record's genotypes segfaults the whole process, so a hostile or
damaged VCF could take a party down. Minimal case (``tests/vfl/data/test_vcf_lines.py``): a
header declaring contig ``1`` and the record ``2  200  rs1  A  G  .  PASS  .  GT  1/1  x ...``.

The defence removes the flag: this pass reads every line once (constant memory, gzip/bgzip
streams decompressed on the fly), refuses lines htslib would misread as records (blank lines,
``#`` lines after the header, a CHROM that is not a valid contig name, a column count other
than the ``#CHROM`` line's), and collects every CHROM; the caller declares the missing ones in
the header before iterating, so htslib's parse errors surface as clean exceptions. BCF input
is binary (contigs are header indices, never undeclared) and is not scanned.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["VcfLayout", "VcfLineError", "scan_vcf_lines"]

# VCF 4.3 section 1.4.7: the contig names a header may declare.
_CONTIG = re.compile(rb"[0-9A-Za-z!#$%&+./:;?@^_|~-][0-9A-Za-z!#$%&*+./:;=?@^_|~-]*")
_GZIP = b"\x1f\x8b"


class VcfLineError(ValueError):
    """One line of a VCF that htslib must not see (1-based line number and the reason)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line, self.reason = line, reason


@dataclass(frozen=True)
class VcfLayout:
    """What the scan learned: enough to name lines and to declare every contig.

    Attributes:
        header_lines: lines up to and including ``#CHROM``; record k (0-based) is on line
            ``header_lines + k + 1``.
        contigs: every CHROM named by a record (each a valid contig name).
        records: number of record lines.
        binary: True for BCF, which is not scanned (the other fields are then empty).
    """

    header_lines: int
    contigs: frozenset[str]
    records: int
    binary: bool = False


def _open(path: Path) -> BinaryIO:
    with path.open("rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == _GZIP else path.open("rb")  # type: ignore[return-value]


def _lines(fh: BinaryIO) -> Iterator[bytes]:
    for raw in fh:
        yield raw.rstrip(b"\n").removesuffix(b"\r")  # htslib drops a CR before the LF too


def _check_record(line: bytes, number: int, columns: int, contigs: set[bytes]) -> None:
    """Check one record line and collect its CHROM.

    The CHROM is never quoted in errors: a damaged line can hold anything.
    """
    if not line:
        raise VcfLineError(number, "empty line inside the records")
    tab = line.find(b"\t")
    chrom = line if tab < 0 else line[:tab]
    if chrom not in contigs:
        if not _CONTIG.fullmatch(chrom):
            what = "a header line after #CHROM" if chrom.startswith(b"#") else "invalid CHROM"
            raise VcfLineError(number, what)
        contigs.add(chrom)
    found = line.count(b"\t") + 1
    if found != columns:
        raise VcfLineError(number, f"{found} columns where the #CHROM line has {columns}")


def scan_vcf_lines(path: Path) -> VcfLayout:
    """Check every record line of a VCF (plain, gzip or bgzip) in one streaming pass.

    Raises:
        VcfLineError: the first line htslib would misread, with its 1-based number.
        OSError, EOFError: the file (or its compression) is unreadable or cut short.
    """
    with _open(path) as fh:
        lines = _lines(fh)
        header, columns = 0, 0
        for line in lines:
            header += 1
            if header == 1 and line.startswith(b"BCF"):
                return VcfLayout(0, frozenset(), 0, binary=True)
            if line.startswith(b"#CHROM"):
                columns = line.count(b"\t") + 1
                break
            if not line.startswith(b"##"):
                raise VcfLineError(header, "no #CHROM line before the records")
        if not columns:
            raise VcfLineError(header, "no #CHROM line")
        contigs: set[bytes] = set()
        records = 0
        for records, line in enumerate(lines, start=1):
            _check_record(line, header + records, columns, contigs)
    return VcfLayout(header, frozenset(c.decode("ascii") for c in contigs), records)
