"""`vfl demo`: the whole job end to end on generated data, each party a real process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from vfl.commands._options import format_option

__all__ = ["COMMANDS", "demo_command"]


def _text(path: Path, summary: dict[str, Any]) -> str:
    held, stages, audit = summary["heldout"], summary["stages"], summary["audit"]
    drops = ", ".join(
        f"{name} {held['auc'] - v['zero']:+.3f}" for name, v in held["left_out_auc"].items()
    )
    times = ", ".join(f"{name} {s['seconds']:.0f} s" for name, s in stages.items())
    return "\n".join(
        [
            f"held-out AUC {held['auc']:.3f} on {held['n']} patients never seen in training",
            f"AUC drop when a modality's embedding is left out: {drops}",
            f"stages: {times}; total {summary['seconds']:.0f} s",
            f"audit: transcripts verified and ID scan {'passed' if audit['ok'] else 'FAILED'}",
            f"report: {path}",
        ]
    )


_HELP = """Run the whole job on a generated cohort, each party in its own process.

\b
1. generate a cohort (`vfl synth`): CT DICOM slices at the imaging site, a VCF at the
   genomics lab, drug responses at the label party; a test CA and one mTLS identity per
   party; the label party holds back a quarter of its patients for evaluation
2. `vfl align`   at every party: ECDH PSI over mutual TLS on loopback
3. `vfl train`   at every party: split learning, Paillier-protected interactive layer
4. `vfl predict` for the held-out patients (a new run with its own PSI)
5. `vfl audit verify` each feature party's transcripts against the label party's, and
   `vfl audit scan --ids` every captured payload for every ID of every site
6. write OUT/<run-id>/report.md: training curves, held-out ROC, each modality's
   contribution (its embedding left out), time and bytes per stage

\b
From the demo to your own data: copy OUT/<run-id>/cohort/<party>.toml to each site and
change, per site:
  [party]         name (= its certificate's common name), run_id (the same at every
                  site), workdir
  [network]       label party: listen, feature_parties; feature party: peer (the label
                  party's host:port) and peer_name; ca_cert, cert, key: files from your
                  own CA (the label party's certificate must carry its party name as a
                  DNS SAN), or for a pilot
                  `vfl certs init --out certs --parties label,imaging,genomics`
  [align]         ids_file (CSV or Parquet), id_column: where the patient IDs are
  [data.image]    path: a manifest CSV (ID column + path_column) or a folder with one
                  DICOM sub-folder per patient; format = dicom | nifti | npy | npz;
                  shape, resize, normalize, window, pca
  [data.genomics] path: your VCF (format = "vcf"; sample_column: the ID file's column
                  of VCF sample names) or a dosage/expression matrix (format = "matrix")
  [data.labels]   path, column, task, classes: the outcome table (label party)
  [tower]         name, out_dim, options;  [train] epochs, key_bits (2048, or 3072)

\b
Then at every site at the same time (the label party first, it listens):
  vfl align   --config site.toml
  vfl train   --config site.toml
  vfl predict --config new-cohort.toml --model WORKDIR/model
  vfl audit verify WORKDIR/transcripts/train.jsonl --peer <label party's transcript>
"""


@click.command("demo", help=_HELP)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("runs"),
    show_default=True,
    help="Parent folder; the run goes to OUT/<run-id>/.",
)
@click.option(
    "--n-shared",
    type=click.IntRange(min=300),
    default=1200,
    show_default=True,
    help="Patients at every site (a quarter of the label party's are held out).",
)
@click.option(
    "--epochs", type=click.IntRange(min=1), default=8, show_default=True, help="Training epochs."
)
@click.option("--seed", default=0, show_default=True, help="Seed of the cohort and the model.")
@click.option(
    "--key-bits",
    type=click.Choice(["2048", "3072", "1024"]),
    default="2048",
    show_default=True,
    help="Paillier modulus size; 1024 is insecure and only for quick tests.",
)
@click.option("--run-id", help="Name of the run folder (default: demo-<date>-<time>).")
@click.option(
    "--insecure", is_flag=True, help="No TLS between the parties (loopback only; warns loudly)."
)
@format_option
def demo_command(
    out: Path,
    n_shared: int,
    epochs: int,
    seed: int,
    key_bits: str,
    run_id: str | None,
    insecure: bool,
    fmt: str,
) -> None:
    """Run the demo (help text in `_HELP`)."""
    from rich.console import Console

    from vfl.demo import DemoOptions, run_demo

    console = Console(stderr=True)
    if key_bits == "1024":
        console.print("[bold red]WARNING: 1024-bit Paillier keys are insecure (tests only)[/]")
    if insecure:
        console.print("[bold red]WARNING: --insecure: parties talk without TLS[/]")
    options = DemoOptions(
        out=out,
        n_shared=n_shared,
        epochs=epochs,
        seed=seed,
        key_bits=int(key_bits),
        insecure=insecure,
        run_id=run_id,
    )
    path, report = run_demo(options, progress=lambda msg: console.log(msg))
    summary = report.summary()
    click.echo(
        json.dumps({**summary, "report": str(path)}, sort_keys=True)
        if fmt == "json"
        else _text(path, summary)
    )


COMMANDS = [demo_command]
