from protocols import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODE_UNSPECIFIED: _ClassVar[Mode]
    MODE_TRAIN: _ClassVar[Mode]
    MODE_PREDICT: _ClassVar[Mode]

class Protection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROTECTION_UNSPECIFIED: _ClassVar[Protection]
    PROTECTION_PAILLIER: _ClassVar[Protection]
    PROTECTION_PLAINTEXT: _ClassVar[Protection]

class StepKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STEP_KIND_UNSPECIFIED: _ClassVar[StepKind]
    STEP_TRAIN: _ClassVar[StepKind]
    STEP_EVAL: _ClassVar[StepKind]
    STEP_PREDICT: _ClassVar[StepKind]
    STEP_EPOCH_END: _ClassVar[StepKind]
    STEP_DONE: _ClassVar[StepKind]
MODE_UNSPECIFIED: Mode
MODE_TRAIN: Mode
MODE_PREDICT: Mode
PROTECTION_UNSPECIFIED: Protection
PROTECTION_PAILLIER: Protection
PROTECTION_PLAINTEXT: Protection
STEP_KIND_UNSPECIFIED: StepKind
STEP_TRAIN: StepKind
STEP_EVAL: StepKind
STEP_PREDICT: StepKind
STEP_EPOCH_END: StepKind
STEP_DONE: StepKind

class Ciphertexts(_message.Message):
    __slots__ = ("fingerprint", "rows", "cols", "axis", "x_bound", "a_bound", "n_terms", "x_frac_bits", "a_frac_bits", "mask_bits", "slots", "slot_bound", "data", "stack")
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    AXIS_FIELD_NUMBER: _ClassVar[int]
    X_BOUND_FIELD_NUMBER: _ClassVar[int]
    A_BOUND_FIELD_NUMBER: _ClassVar[int]
    N_TERMS_FIELD_NUMBER: _ClassVar[int]
    X_FRAC_BITS_FIELD_NUMBER: _ClassVar[int]
    A_FRAC_BITS_FIELD_NUMBER: _ClassVar[int]
    MASK_BITS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    SLOT_BOUND_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    STACK_FIELD_NUMBER: _ClassVar[int]
    fingerprint: str
    rows: int
    cols: int
    axis: int
    x_bound: float
    a_bound: float
    n_terms: int
    x_frac_bits: int
    a_frac_bits: int
    mask_bits: int
    slots: int
    slot_bound: bytes
    data: bytes
    stack: int
    def __init__(self, fingerprint: _Optional[str] = ..., rows: _Optional[int] = ..., cols: _Optional[int] = ..., axis: _Optional[int] = ..., x_bound: _Optional[float] = ..., a_bound: _Optional[float] = ..., n_terms: _Optional[int] = ..., x_frac_bits: _Optional[int] = ..., a_frac_bits: _Optional[int] = ..., mask_bits: _Optional[int] = ..., slots: _Optional[int] = ..., slot_bound: _Optional[bytes] = ..., data: _Optional[bytes] = ..., stack: _Optional[int] = ...) -> None: ...

class FloatMatrix(_message.Message):
    __slots__ = ("rows", "cols", "data")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    rows: int
    cols: int
    data: bytes
    def __init__(self, rows: _Optional[int] = ..., cols: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class LayerSpec(_message.Message):
    __slots__ = ("in_dim", "out_dim", "batch_size", "alpha_bound", "weight_bound", "grad_bound", "frac_bits", "lr")
    IN_DIM_FIELD_NUMBER: _ClassVar[int]
    OUT_DIM_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    ALPHA_BOUND_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_BOUND_FIELD_NUMBER: _ClassVar[int]
    GRAD_BOUND_FIELD_NUMBER: _ClassVar[int]
    FRAC_BITS_FIELD_NUMBER: _ClassVar[int]
    LR_FIELD_NUMBER: _ClassVar[int]
    in_dim: int
    out_dim: int
    batch_size: int
    alpha_bound: float
    weight_bound: float
    grad_bound: float
    frac_bits: int
    lr: float
    def __init__(self, in_dim: _Optional[int] = ..., out_dim: _Optional[int] = ..., batch_size: _Optional[int] = ..., alpha_bound: _Optional[float] = ..., weight_bound: _Optional[float] = ..., grad_bound: _Optional[float] = ..., frac_bits: _Optional[int] = ..., lr: _Optional[float] = ...) -> None: ...

class Step(_message.Message):
    __slots__ = ("kind", "epoch", "batch", "positions")
    KIND_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    kind: StepKind
    epoch: int
    batch: int
    positions: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, kind: _Optional[_Union[StepKind, str]] = ..., epoch: _Optional[int] = ..., batch: _Optional[int] = ..., positions: _Optional[_Iterable[int]] = ...) -> None: ...

class HelloRequest(_message.Message):
    __slots__ = ("env", "mode", "protection", "in_dim", "n_rows", "alignment_digest", "public_key", "checkpoint_epochs", "initial_share", "model_id")
    ENV_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    PROTECTION_FIELD_NUMBER: _ClassVar[int]
    IN_DIM_FIELD_NUMBER: _ClassVar[int]
    N_ROWS_FIELD_NUMBER: _ClassVar[int]
    ALIGNMENT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    INITIAL_SHARE_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    mode: Mode
    protection: Protection
    in_dim: int
    n_rows: int
    alignment_digest: str
    public_key: bytes
    checkpoint_epochs: _containers.RepeatedScalarFieldContainer[int]
    initial_share: FloatMatrix
    model_id: str
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., mode: _Optional[_Union[Mode, str]] = ..., protection: _Optional[_Union[Protection, str]] = ..., in_dim: _Optional[int] = ..., n_rows: _Optional[int] = ..., alignment_digest: _Optional[str] = ..., public_key: _Optional[bytes] = ..., checkpoint_epochs: _Optional[_Iterable[int]] = ..., initial_share: _Optional[_Union[FloatMatrix, _Mapping]] = ..., model_id: _Optional[str] = ...) -> None: ...

class HelloReply(_message.Message):
    __slots__ = ("env", "session", "spec", "start_epoch", "epochs", "model_id", "public_key")
    ENV_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    START_EPOCH_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    session: str
    spec: LayerSpec
    start_epoch: int
    epochs: int
    model_id: str
    public_key: bytes
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., session: _Optional[str] = ..., spec: _Optional[_Union[LayerSpec, _Mapping]] = ..., start_epoch: _Optional[int] = ..., epochs: _Optional[int] = ..., model_id: _Optional[str] = ..., public_key: _Optional[bytes] = ...) -> None: ...

class NextStepRequest(_message.Message):
    __slots__ = ("env", "session")
    ENV_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    session: str
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., session: _Optional[str] = ...) -> None: ...

class StepReply(_message.Message):
    __slots__ = ("env", "step")
    ENV_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    step: Step
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., step: _Optional[_Union[Step, _Mapping]] = ...) -> None: ...

class WeightsRequest(_message.Message):
    __slots__ = ("env", "session", "batch")
    ENV_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    session: str
    batch: int
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., session: _Optional[str] = ..., batch: _Optional[int] = ...) -> None: ...

class WeightsReply(_message.Message):
    __slots__ = ("env", "batch", "weights")
    ENV_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    batch: int
    weights: Ciphertexts
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., batch: _Optional[int] = ..., weights: _Optional[_Union[Ciphertexts, _Mapping]] = ...) -> None: ...

class ForwardRequest(_message.Message):
    __slots__ = ("env", "session", "batch", "noise_share", "alpha_plain", "projection")
    ENV_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    NOISE_SHARE_FIELD_NUMBER: _ClassVar[int]
    ALPHA_PLAIN_FIELD_NUMBER: _ClassVar[int]
    PROJECTION_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    session: str
    batch: int
    noise_share: Ciphertexts
    alpha_plain: FloatMatrix
    projection: Ciphertexts
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., session: _Optional[str] = ..., batch: _Optional[int] = ..., noise_share: _Optional[_Union[Ciphertexts, _Mapping]] = ..., alpha_plain: _Optional[_Union[FloatMatrix, _Mapping]] = ..., projection: _Optional[_Union[Ciphertexts, _Mapping]] = ...) -> None: ...

class BackwardRequest(_message.Message):
    __slots__ = ("env", "session", "batch")
    ENV_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    session: str
    batch: int
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., session: _Optional[str] = ..., batch: _Optional[int] = ...) -> None: ...

class BackwardReply(_message.Message):
    __slots__ = ("env", "batch", "grad_input", "grad_alpha_plain", "delta")
    ENV_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    GRAD_INPUT_FIELD_NUMBER: _ClassVar[int]
    GRAD_ALPHA_PLAIN_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    batch: int
    grad_input: Ciphertexts
    grad_alpha_plain: FloatMatrix
    delta: Ciphertexts
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., batch: _Optional[int] = ..., grad_input: _Optional[_Union[Ciphertexts, _Mapping]] = ..., grad_alpha_plain: _Optional[_Union[FloatMatrix, _Mapping]] = ..., delta: _Optional[_Union[Ciphertexts, _Mapping]] = ...) -> None: ...

class BackwardFinishRequest(_message.Message):
    __slots__ = ("env", "session", "batch", "grad_weight")
    ENV_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    GRAD_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    session: str
    batch: int
    grad_weight: Ciphertexts
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., session: _Optional[str] = ..., batch: _Optional[int] = ..., grad_weight: _Optional[_Union[Ciphertexts, _Mapping]] = ...) -> None: ...

class EpochSavedRequest(_message.Message):
    __slots__ = ("env", "session", "epoch")
    ENV_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    session: str
    epoch: int
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., session: _Optional[str] = ..., epoch: _Optional[int] = ...) -> None: ...

class AbortRequest(_message.Message):
    __slots__ = ("env", "session", "kind")
    ENV_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    session: str
    kind: str
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., session: _Optional[str] = ..., kind: _Optional[str] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("env",)
    ENV_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ...) -> None: ...
