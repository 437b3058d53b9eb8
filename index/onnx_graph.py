"""Small edits of ONNX model bytes, done in memory without the `onnx` package (slow to import)."""

from __future__ import annotations


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def with_extra_output(model: bytes, name: str) -> bytes:
    """The ONNX model `model` with the float tensor `name` added to its graph's outputs.

    Edits the protobuf bytes directly (a repeated field may be appended; field order is free), so the
    query path needs neither the `onnx` package nor a second copy of the weights on disk.
    """
    tensor_type = b"\x0a" + _varint(2) + b"\x08\x01"  # TypeProto.tensor_type { elem_type: FLOAT }
    value_info = b"\x0a" + _varint(len(name.encode())) + name.encode() + b"\x12" + _varint(len(tensor_type)) + tensor_type
    output = b"\x62" + _varint(len(value_info)) + value_info  # GraphProto field 12 (output)
    at, parts = 0, []
    while at < len(model):
        start = at
        tag, at = _read_varint(model, at)
        wire = tag & 7
        if wire == 0:
            _, at = _read_varint(model, at)
        elif wire == 1:
            at += 8
        elif wire == 5:
            at += 4
        elif wire == 2:
            tag_end = at
            length, body = _read_varint(model, at)
            at = body + length
            if tag >> 3 == 7:  # ModelProto.graph
                graph = model[body:at] + output
                parts.append(model[start:tag_end] + _varint(len(graph)) + graph)
                continue
        else:
            raise ValueError(f"not an ONNX model (protobuf wire type {wire})")
        parts.append(model[start:at])
    return b"".join(parts)
