"""A schema-free walk over protobuf wire format, for scanning payloads of any message type.

The scanner must look inside messages whose `.proto` it does not know (future steps, other
parties' versions), so it reads the wire format directly: varints, fixed 32/64-bit values and
length-delimited fields. A length-delimited value may be bytes, a string or a nested message;
`length_delimited` yields each one and also walks into those that parse as messages.

Malformed input raises `AuditError` (top level) or is treated as opaque bytes (nested); it
never loops, recurses without bound or reads out of range.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from vfl.errors import AuditError

__all__ = ["WireField", "length_delimited", "parse_message"]

_MAX_FIELD = (1 << 29) - 1
_MAX_DEPTH = 16


@dataclass(frozen=True)
class WireField:
    """One field as it sits on the wire: number, wire type, and the value's bytes or int."""

    number: int
    wire_type: int
    value: int | memoryview


def parse_message(data: bytes | memoryview) -> list[WireField]:
    """Split one serialized message into its fields.

    Raises:
        AuditError: truncated data, a bad varint, field number 0 or above 2^29-1, or a wire
            type other than 0, 1, 2 or 5 (groups are not used by proto3).
    """
    view = memoryview(data)
    fields: list[WireField] = []
    pos = 0
    while pos < len(view):
        key, pos = _varint(view, pos)
        number, wire_type = key >> 3, key & 7
        if not 1 <= number <= _MAX_FIELD:
            raise AuditError(f"protobuf: bad field number {number} at byte {pos}")
        value: int | memoryview
        if wire_type == 0:
            value, pos = _varint(view, pos)
        elif wire_type in (1, 5):
            size = 8 if wire_type == 1 else 4
            value, pos = _take(view, pos, size)
        elif wire_type == 2:
            size, pos = _varint(view, pos)
            value, pos = _take(view, pos, size)
        else:
            raise AuditError(f"protobuf: unsupported wire type {wire_type} at byte {pos}")
        fields.append(WireField(number, wire_type, value))
    return fields


def length_delimited(
    data: bytes | memoryview, *, max_depth: int = _MAX_DEPTH
) -> Iterator[memoryview]:
    """Yield every length-delimited value in a message, recursing into nested messages.

    Raises:
        AuditError: the top-level message is malformed.
    """
    yield from _walk(parse_message(data), max_depth)


def _walk(fields: list[WireField], depth: int) -> Iterator[memoryview]:
    for f in fields:
        if f.wire_type != 2 or not isinstance(f.value, memoryview):
            continue
        yield f.value
        if depth <= 1 or not f.value:
            continue
        try:
            nested = parse_message(f.value)
        except AuditError:
            continue
        yield from _walk(nested, depth - 1)


def _varint(view: memoryview, pos: int) -> tuple[int, int]:
    result = 0
    for shift in range(0, 70, 7):
        if pos >= len(view):
            raise AuditError(f"protobuf: truncated varint at byte {pos}")
        byte = view[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
    raise AuditError(f"protobuf: varint longer than 10 bytes at byte {pos}")


def _take(view: memoryview, pos: int, size: int) -> tuple[memoryview, int]:
    end = pos + size
    if end > len(view):
        raise AuditError(f"protobuf: field of {size} bytes runs past the end at byte {pos}")
    return view[pos:end], end
