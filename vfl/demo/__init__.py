"""`vfl demo`: the whole job on a generated cohort, each party a real process, with a report.

`run_demo` generates a cohort (`vfl.data.synth`), holds out patients at the label party,
runs `vfl align`, `vfl train` and `vfl predict` at every party as separate processes,
verifies and scans the audit transcripts, and writes ``report.md`` with PNG plots.
"""

from vfl.demo.pipeline import DemoOptions, run_demo
from vfl.demo.report import DemoReport

__all__ = ["DemoOptions", "DemoReport", "run_demo"]
