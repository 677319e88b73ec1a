"""CLI commands: each module exposes `COMMANDS`, a list of click commands `vfl.cli` attaches."""
