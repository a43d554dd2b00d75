"""A comparable summary of a protobuf schema, shared by our side and the official SDK's side.

Imported by ``test_official_sdk_038.py`` (our descriptor) and by
``official_proto_interop.py`` under the official SDK's interpreter (its
descriptor), so both are described by the same code. Needs only ``protobuf``.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2


def describe(file_descriptor: Any) -> dict[str, Any]:
    """{"package", "enums": {enum: {value: number}}, "messages": {message: {field:
    [number, type, label, type_name, oneof]}}}; ``oneof`` is a real oneof's name (the
    synthetic ones of proto3 ``optional`` fields are left out: they do not change the wire)."""
    proto = descriptor_pb2.FileDescriptorProto.FromString(file_descriptor.serialized_pb)
    out: dict[str, Any] = {"package": proto.package, "enums": {}, "messages": {}}
    for enum in proto.enum_type:
        out["enums"][enum.name] = {v.name: v.number for v in enum.value}

    def walk(message: Any, prefix: str) -> None:
        fields = {}
        for f in message.field:
            oneof = (message.oneof_decl[f.oneof_index].name
                     if f.HasField("oneof_index") and not f.proto3_optional else None)
            fields[f.name] = [f.number, f.type, f.label, f.type_name, oneof]
        out["messages"][prefix + message.name] = fields
        for nested in message.nested_type:
            walk(nested, prefix + message.name + ".")

    for message in proto.message_type:
        walk(message, "")
    return out
