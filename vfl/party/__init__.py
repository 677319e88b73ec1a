"""Party runners: launching parties as processes, and (stage 2) the label and feature runners."""

from vfl.party.launch import PartyProcess, free_port, run_parties, write_config, write_id_cohorts

__all__ = ["PartyProcess", "free_port", "run_parties", "write_config", "write_id_cohorts"]
