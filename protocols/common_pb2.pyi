from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Envelope(_message.Message):
    __slots__ = ("run_id", "sender", "recipient", "seq", "step", "protocol_version")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    sender: str
    recipient: str
    seq: int
    step: str
    protocol_version: int
    def __init__(self, run_id: _Optional[str] = ..., sender: _Optional[str] = ..., recipient: _Optional[str] = ..., seq: _Optional[int] = ..., step: _Optional[str] = ..., protocol_version: _Optional[int] = ...) -> None: ...
