"""``spec/tinker_public.proto`` -> ``tinkex/proto/tinker_public_pb2.py(i)``: exact, reproducible.

The field table below is transcribed from the protocol reference (section 5.2,
schema as of SDK 0.38.0) independently of the ``.proto`` file, so a typo in
either shows up here; the conformance suite additionally compares the
compiled schema with the official SDK's descriptor.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FieldDescriptor

from tinkex.codegen import protobuf
from tinkex.codegen.cli import _project_outputs
from tinkex.proto import pb

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "spec" / "tinker_public.proto"
OUT = "tinkex/proto/tinker_public_pb2.py"

# message -> field -> "number type" (maps as map<key,value>, lists as "repeated type")
EXPECTED_FIELDS: dict[str, dict[str, str]] = {
    "SampleResponse": {"sequences": "1 repeated SampledSequence", "prompt_logprobs": "2 bytes",
                       "topk_prompt_logprobs": "3 TopkLogprobs",
                       "prompt_cache_hit_tokens": "4 int32",
                       "target_prompt_logprobs": "5 Tensor",
                       "prompt_alt_tokens": "6 PromptAltTokens"},
    "PromptAltTokens": {"tokens": "1 Tensor", "logprobs": "2 Tensor"},
    "SampledSequence": {"stop_reason": "1 StopReason", "tokens": "2 bytes", "logprobs": "3 bytes",
                        "topk_sampled_logprobs": "4 TopkLogprobs"},
    "TopkLogprobs": {"token_ids": "1 bytes", "logprobs": "2 bytes", "k": "3 uint32",
                     "length": "4 uint32"},
    "SparseCsr": {"values": "1 bytes", "crow_indices": "2 bytes", "col_indices": "3 bytes"},
    "Tensor": {"dense": "1 bytes", "sparse_csr": "2 SparseCsr", "dtype": "3 DType",
               "shape": "4 repeated int64"},
    "BatchedTensor": {"data": "1 bytes", "offsets": "2 bytes", "dtype": "3 DType",
                      "trailing_shape": "4 repeated int64"},
    "ArrayRecord": {"type_tag": "1 string", "fields": "2 map<string,BatchedTensor>",
                    "num_datums": "3 int64"},
    "ForwardBackwardOutput": {"loss_fn_output_type": "1 string",
                              "loss_fn_outputs": "2 repeated ArrayRecord",
                              "metrics": "3 map<string,double>"},
    "ForwardBackwardRequest": {"model_id": "1 string", "seq_id": "2 int32",
                               "data": "3 repeated Datum", "loss_fn": "4 string",
                               "loss_fn_config": "5 map<string,double>",
                               "forward_only": "6 bool",
                               "loss_fn_config_v2": "7 map<string,LossConfigValue>"},
    "LossConfigValue": {"number": "1 double", "text": "2 string"},
    "Datum": {"model_input": "1 repeated Chunk", "loss_fn_inputs": "2 map<string,Tensor>",
              "model_input_spans": "3 repeated ProvenanceSpan",
              "loss_fn_input_spans": "4 repeated ProvenanceSpan"},
    "ProvenanceSpan": {"prompt_tokens": "1 PromptProvenanceSpan",
                       "sampled_tokens": "2 SampledProvenanceSpan"},
    "PromptProvenanceSpan": {"sequence_id": "1 string", "offset": "2 int64", "length": "3 int64"},
    "SampledProvenanceSpan": {"sequence_id": "1 string", "offset": "2 int64",
                              "length": "3 int64"},
    "Chunk": {"encoded_text": "1 EncodedTextChunk", "image": "2 ImageChunk",
              "dmel": "3 DmelChunk"},
    "EncodedTextChunk": {"tokens": "1 bytes"},
    "ImageChunk": {"data": "1 bytes", "format": "2 string", "expected_tokens": "3 int32",
                   "override_dimensions": "4 ImageDimensions"},
    "ImageDimensions": {"width": "1 uint32", "height": "2 uint32"},
    "DmelChunk": {"dmel": "1 bytes"},
    "SamplingParams": {"max_tokens": "1 int32", "seed": "2 uint64", "temperature": "3 float",
                       "top_k": "4 int32", "top_p": "5 float", "stop_strs": "6 StopStrings",
                       "stop_tokens": "7 StopTokens"},
    "StopStrings": {"values": "1 repeated string"},
    "StopTokens": {"values": "1 repeated int32"},
}
EXPECTED_ENUMS = {
    "StopReason": {"STOP_REASON_STOP": 0, "STOP_REASON_LENGTH": 1},
    "DType": {"DTYPE_UNSPECIFIED": 0, "DTYPE_FLOAT32": 1, "DTYPE_INT64": 2, "DTYPE_INT32": 3,
              "DTYPE_BFLOAT16": 4},
}
EXPECTED_ONEOFS = {"Tensor": {"encoding": ["dense", "sparse_csr"]},
                   "LossConfigValue": {"value": ["number", "text"]},
                   "ProvenanceSpan": {"span": ["prompt_tokens", "sampled_tokens"]},
                   "Chunk": {"chunk": ["encoded_text", "image", "dmel"]},
                   "SamplingParams": {"stop": ["stop_strs", "stop_tokens"]}}

_SCALARS = {getattr(FieldDescriptor, name): name[5:].lower()
            for name in dir(FieldDescriptor) if name.startswith("TYPE_")}


def _type(field: Any) -> str:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key, value = (_type(field.message_type.fields_by_name[n]) for n in ("key", "value"))
        return f"map<{key},{value}>"
    if field.message_type is not None:
        name = field.message_type.name
    elif field.enum_type is not None:
        name = field.enum_type.name
    else:
        name = _SCALARS[field.type]
    return f"repeated {name}" if field.is_repeated else name


def test_field_numbers_and_types_match_the_reference_table() -> None:
    messages = pb.DESCRIPTOR.message_types_by_name
    assert set(messages) == set(EXPECTED_FIELDS)
    actual = {name: {f.name: f"{f.number} {_type(f)}" for f in message.fields}
              for name, message in messages.items()}
    assert actual == EXPECTED_FIELDS
    enums = {name: {v.name: v.number for v in enum.values}
             for name, enum in pb.DESCRIPTOR.enum_types_by_name.items()}
    assert enums == EXPECTED_ENUMS
    oneofs = {name: {o.name: [f.name for f in o.fields] for o in message.oneofs
                     if not o.name.startswith("_")}  # skip proto3 `optional`'s synthetic ones
              for name, message in messages.items()}
    assert {k: v for k, v in oneofs.items() if v} == EXPECTED_ONEOFS
    assert pb.DESCRIPTOR.package == "tinker_public"
    assert pb.DESCRIPTOR.name == "tinker_public.proto"


def test_generated_code_is_reproducible_and_committed() -> None:
    first = protobuf.generate_protobuf(PROTO, OUT, source="spec/tinker_public.proto")
    second = protobuf.generate_protobuf(PROTO, OUT, source="spec/tinker_public.proto")
    assert first == second
    assert (ROOT / OUT).read_text(encoding="utf-8") == first.module
    assert (ROOT / OUT).with_suffix(".pyi").read_text(encoding="utf-8") == first.stub
    for text in (first.module, first.stub):
        assert str(ROOT) not in text and "/tmp" not in text
        assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text)  # no timestamps


def test_codegen_check_covers_the_protobuf_outputs() -> None:
    outputs = _project_outputs(ROOT)
    assert {ROOT / OUT, (ROOT / OUT).with_suffix(".pyi")} <= set(outputs)


def test_messages_use_a_private_pool_and_the_real_module_name() -> None:
    assert pb.DESCRIPTOR.pool is not descriptor_pool.Default()
    assert pb.ForwardBackwardRequest.__module__ == "tinkex.proto.tinker_public_pb2"


def test_a_conflicting_tinker_public_schema_in_the_default_pool_does_not_break_import() -> None:
    """What happens when the official SDK (default pool, same package) is imported first."""
    script = """
from google.protobuf import descriptor_pb2, descriptor_pool
other = descriptor_pb2.FileDescriptorProto(name="tinker_public.proto", package="tinker_public",
                                          syntax="proto3")
message = other.message_type.add(name="SampleResponse")
message.field.add(name="unrelated", number=1, type=5, label=1)
descriptor_pool.Default().AddSerializedFile(other.SerializeToString())
from tinkex.proto import pb
wire = pb.SampleResponse(prompt_cache_hit_tokens=3).SerializeToString()
assert pb.SampleResponse.FromString(wire).prompt_cache_hit_tokens == 3
print("ok")
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_pins_agree_with_the_generator_and_its_runtime_floor() -> None:
    project = _pyproject()["project"]
    assert f"grpcio-tools=={protobuf.GRPCIO_TOOLS}" in [
        d.split("#")[0].strip() for d in project["optional-dependencies"]["dev"]]
    gencode = re.search(r"# Protobuf Python Version: (\d+)\.(\d+)\.(\d+)",
                        (ROOT / OUT).read_text(encoding="utf-8"))
    assert gencode is not None
    (floor,) = [d for d in project["dependencies"] if d.startswith("protobuf")]
    wanted = tuple(int(x) for x in gencode.groups())
    have = tuple(int(x) for x in re.search(r">=([\d.]+)", floor).group(1).split("."))
    assert have >= wanted, f"{floor} allows runtimes older than the gencode {wanted}"
    assert any(d.startswith("zstandard") for d in project["dependencies"])
    config = _pyproject()["tool"]["tinkex"]["codegen"]
    assert (config["proto"], config["proto_out"]) == ("spec/tinker_public.proto", OUT)


def test_another_grpcio_tools_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protobuf, "installed_grpcio_tools", lambda: "0.0.1")
    with pytest.raises(protobuf.ProtobufError, match="needs grpcio-tools==.*0.0.1 is installed"):
        protobuf.generate_protobuf(PROTO, OUT, source="x.proto")


def test_protoc_errors_and_bad_output_names_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "broken.proto"
    bad.write_text('syntax = "proto3";\nmessage A { int32 x = 1; string x = 2; }\n')
    with pytest.raises(protobuf.ProtobufError, match="protoc rejected broken.proto"):
        protobuf.generate_protobuf(bad, "pkg/broken_pb2.py", source="broken.proto")
    with pytest.raises(protobuf.ProtobufError, match="must end in it"):
        protobuf.generate_protobuf(PROTO, "pkg/other_pb2.py", source="x")


def test_the_cli_reports_protobuf_problems_as_one_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        (ROOT / "pyproject.toml").read_text(encoding="utf-8")
        .replace('proto = "spec/tinker_public.proto"', 'proto = "tinker_public.proto"')
        .replace('manifest = "spec/tinker.yaml"', f'manifest = "{ROOT / "spec" / "tinker.yaml"}"'))
    (tmp_path / "tinker_public.proto").write_text('syntax = "proto3";\nmessage {\n')
    run = subprocess.run([sys.executable, "-m", "tinkex.codegen", "--root", str(tmp_path), "check"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 1
    assert run.stderr.startswith("protoc rejected tinker_public.proto:\ntinker_public.proto:2:")
    assert "Traceback" not in run.stderr
