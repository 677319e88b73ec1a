"""Party runners: launching parties as processes, the label coordinator, the feature runner."""

from vfl.party.checkpoint import CheckpointStore, atomic_write_bytes, file_sha256
from vfl.party.feature import FeatureResult, FeatureRunner, initial_noise_share
from vfl.party.label import LabelCoordinator, LabelData, TrainResult, initial_weight_share
from vfl.party.launch import PartyProcess, free_port, run_parties, write_config, write_id_cohorts
from vfl.party.schedule import Schedule
from vfl.party.settings import TrainConfig, parse_train_config

__all__ = [
    "CheckpointStore",
    "FeatureResult",
    "FeatureRunner",
    "LabelCoordinator",
    "LabelData",
    "PartyProcess",
    "Schedule",
    "TrainConfig",
    "TrainResult",
    "atomic_write_bytes",
    "file_sha256",
    "free_port",
    "initial_noise_share",
    "initial_weight_share",
    "parse_train_config",
    "run_parties",
    "write_config",
    "write_id_cohorts",
]
