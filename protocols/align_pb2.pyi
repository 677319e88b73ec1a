from protocols import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Visibility(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VISIBILITY_UNSPECIFIED: _ClassVar[Visibility]
    BOTH: _ClassVar[Visibility]
    LABEL_ONLY: _ClassVar[Visibility]
    SIZE_ONLY: _ClassVar[Visibility]

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OUTCOME_UNSPECIFIED: _ClassVar[Outcome]
    OK: _ClassVar[Outcome]
    TOO_SMALL: _ClassVar[Outcome]
    ABORTED: _ClassVar[Outcome]
    MISMATCH: _ClassVar[Outcome]
VISIBILITY_UNSPECIFIED: Visibility
BOTH: Visibility
LABEL_ONLY: Visibility
SIZE_ONLY: Visibility
OUTCOME_UNSPECIFIED: Outcome
OK: Outcome
TOO_SMALL: Outcome
ABORTED: Outcome
MISMATCH: Outcome

class HelloRequest(_message.Message):
    __slots__ = ("env", "visibility", "min_intersection", "n_ids")
    ENV_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    MIN_INTERSECTION_FIELD_NUMBER: _ClassVar[int]
    N_IDS_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    visibility: Visibility
    min_intersection: int
    n_ids: int
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., visibility: _Optional[_Union[Visibility, str]] = ..., min_intersection: _Optional[int] = ..., n_ids: _Optional[int] = ...) -> None: ...

class HelloReply(_message.Message):
    __slots__ = ("env", "bucket_key", "digest_salt", "n_buckets")
    ENV_FIELD_NUMBER: _ClassVar[int]
    BUCKET_KEY_FIELD_NUMBER: _ClassVar[int]
    DIGEST_SALT_FIELD_NUMBER: _ClassVar[int]
    N_BUCKETS_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    bucket_key: bytes
    digest_salt: bytes
    n_buckets: int
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., bucket_key: _Optional[bytes] = ..., digest_salt: _Optional[bytes] = ..., n_buckets: _Optional[int] = ...) -> None: ...

class SetupMessage(_message.Message):
    __slots__ = ("env", "bucket", "server_setup")
    ENV_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    SERVER_SETUP_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    bucket: int
    server_setup: bytes
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., bucket: _Optional[int] = ..., server_setup: _Optional[bytes] = ...) -> None: ...

class RequestMessage(_message.Message):
    __slots__ = ("env", "bucket", "request")
    ENV_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    bucket: int
    request: bytes
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., bucket: _Optional[int] = ..., request: _Optional[bytes] = ...) -> None: ...

class ResponseMessage(_message.Message):
    __slots__ = ("env", "bucket", "response")
    ENV_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    bucket: int
    response: bytes
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., bucket: _Optional[int] = ..., response: _Optional[bytes] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("env",)
    ENV_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ...) -> None: ...

class ResultQuery(_message.Message):
    __slots__ = ("env",)
    ENV_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ...) -> None: ...

class ResultReply(_message.Message):
    __slots__ = ("env", "pending", "outcome", "final_size", "pairwise_size", "detail")
    ENV_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    FINAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAIRWISE_SIZE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    pending: bool
    outcome: Outcome
    final_size: int
    pairwise_size: int
    detail: str
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., pending: bool = ..., outcome: _Optional[_Union[Outcome, str]] = ..., final_size: _Optional[int] = ..., pairwise_size: _Optional[int] = ..., detail: _Optional[str] = ...) -> None: ...

class FinalQuery(_message.Message):
    __slots__ = ("env", "bucket")
    ENV_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    bucket: int
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., bucket: _Optional[int] = ...) -> None: ...

class FinalPoints(_message.Message):
    __slots__ = ("env", "bucket", "points")
    ENV_FIELD_NUMBER: _ClassVar[int]
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    bucket: int
    points: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., bucket: _Optional[int] = ..., points: _Optional[_Iterable[bytes]] = ...) -> None: ...

class DigestMessage(_message.Message):
    __slots__ = ("env", "digest")
    ENV_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    digest: bytes
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., digest: _Optional[bytes] = ...) -> None: ...

class Verdict(_message.Message):
    __slots__ = ("env", "pending", "outcome", "detail")
    ENV_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    pending: bool
    outcome: Outcome
    detail: str
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., pending: bool = ..., outcome: _Optional[_Union[Outcome, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class AbortMessage(_message.Message):
    __slots__ = ("env", "reason")
    ENV_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    env: _common_pb2.Envelope
    reason: str
    def __init__(self, env: _Optional[_Union[_common_pb2.Envelope, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...
