"""Official SDK 0.38.0 (protobuf only) against the emulator, and its protobuf code against ours.

0.38.0 is the newest ``tinker`` release and has no JSON path for
forward_backward bodies or for ForwardBackwardOutput / SampleResponse results,
so the flow passing means the emulator decodes the official encoder's bodies
(plain and zstd) and the official decoder accepts our results. The same venv
cache as ``test_official_sdk.py`` is used (``.cache/conformance/tinker-0.38.0``).

``test_codecs_agree_with_the_official_sdk`` checks the schema field by field and
decodes in both directions outside any HTTP flow, including the rules a
training flow never exercises (bfloat16 / int32 widening, ragged records,
sparse tensors, top-k sentinels, spans, string loss config).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from proto_schema import describe
from test_official_sdk import INSTALL_TIMEOUT, official_sdk_python

from tinkex import types as T
from tinkex.emulator.run.process import EmulatorProcess
from tinkex.proto import codec, pb

HERE = Path(__file__).parent
FLOW_038 = HERE / "official_sdk_flow_038.py"
REST_FLOW_038 = HERE / "official_rest_flow_038.py"
FLOW_OLD = HERE / "official_sdk_flow.py"
INTEROP = HERE / "official_proto_interop.py"

_ACCESS = re.compile(r'"([A-Z]+) (\S+) HTTP/1\.1" (\d{3})')
_PROTO_BODY = re.compile(r"forward_backward: protobuf body, \d+ bytes, Content-Encoding (\S+)")


# chat templates need jinja2, which transformers (a tinker dependency) does not install
CHAT_EXTRAS = ("jinja2==3.1.6",)


def run_flow(version: str, flow: Path, emulator_args: list[str], tmp_path: Path,
             extras: tuple[str, ...] = ()
             ) -> tuple[dict[str, Any], list[tuple[str, str, int]], str, float]:
    """Run ``flow`` with SDK ``version`` against a fresh emulator; (RESULT, requests, log, secs).

    Both processes share a private Hugging Face cache (the emulator installs its
    tokenizer there) and the SDK runs offline.
    """
    python = official_sdk_python(version, extras)
    hf_home = tmp_path / "hf"
    with EmulatorProcess(tmp_path / "data", args=["--log-level", "debug", *emulator_args],
                         env={"HF_HOME": str(hf_home)}) as emulator:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TINKER_", "HF_", "HUGGINGFACE_"))}
        env.update(TINKER_BASE_URL=emulator.base_url, TINKER_API_KEY="tml-conformance",
                   HF_HUB_OFFLINE="1", HF_HOME=str(hf_home), PYTHONUNBUFFERED="1")
        start = time.monotonic()
        run = subprocess.run([str(python), str(flow)], env=env, capture_output=True, text=True,
                             timeout=240, cwd=tmp_path)
        seconds = time.monotonic() - start
    log = "".join(emulator.output)
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr[-5000:]}"
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, run.stdout
    requests = [(m, p, int(s)) for m, p, s in _ACCESS.findall(log)]
    return json.loads(lines[-1][len("RESULT "):]), requests, log, seconds


def check_flow(version: str, result: dict[str, Any], requests: list[tuple[str, str, int]],
               log: str, seconds: float, encoding: str) -> None:
    print(f"tinker {version}: loss:sum {result['first_loss']:.2f} -> {result['last_loss']:.2f} "
          f"in {seconds:.1f}s, {len(requests)} requests, bodies {encoding}")
    assert result["last_loss"] <= 0.5 * result["first_loss"]
    assert "weights/final" in result["checkpoints"]
    refused = [r for r in requests if r[2] >= 400 and r[2] != 408]
    assert not refused, refused
    # every forward_backward body was protobuf, compressed as the client config said
    fwdbwd = [r for r in requests if r[1] == "/api/v1/forward_backward"]
    assert fwdbwd and _PROTO_BODY.findall(log) == [encoding] * len(fwdbwd)
    assert log.count("ForwardBackwardOutput result sent as protobuf") >= len(fwdbwd)
    assert "SampleResponse result sent as protobuf" in log


@pytest.mark.conformance
@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
@pytest.mark.parametrize("compress", [False, True], ids=["protobuf", "protobuf+zstd"])
def test_official_sdk_038_trains_saves_samples_lists_and_closes(compress: bool,
                                                                tmp_path: Path) -> None:
    args = ["--proto-compress-fwdbwd"] if compress else []
    result, requests, log, seconds = run_flow("0.38.0", FLOW_038, args, tmp_path)
    check_flow("0.38.0", result, requests, log, seconds, "zstd" if compress else "identity")
    assert "sampler_weights/final-sampler" in result["checkpoints"]
    paths = [p for _, p, _ in requests]
    # 0.38-only calls: dynamic config, get_info at creation, create-from-state via
    # load_weights, sampler lookup by id, the unpickled sampler's join, and the session
    # finish on leaving `with`.
    for expected in ("/api/v1/client/dynamic_config", "/api/v1/get_info", "/api/v1/load_weights",
                     "/api/v1/create_sampling_session", "/api/v1/join_sampling_session"):
        assert expected in paths, expected
    assert any(p.startswith("/api/v1/samplers/") for p in paths)
    assert sum(re.fullmatch(r"/api/v1/sessions/[^/]+/finish", p) is not None
               for p in paths) == 1


@pytest.mark.conformance
@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
def test_official_sdk_038_rest_admin_identity_and_tokenizer(tmp_path: Path) -> None:
    """whoami over JWT auth, the tokenizer, external weights, copies, search, admin views."""
    # Every 40th JWT request is refused as invalid_token: 0.38 must mint and replay.
    args = ["--retrieve-futures", "--join-sampling-session", "--fault-refuse-jwt-every", "40"]
    result, requests, log, seconds = run_flow("0.38.0", REST_FLOW_038, args, tmp_path,
                                              CHAT_EXTRAS)
    print(f"tinker 0.38.0 REST flow in {seconds:.1f}s, {len(requests)} requests, "
          f"{result['audit_events']} audit events, usage {result['billing']}")
    refused = [r for r in requests if r[2] >= 400 and r[2] not in (408, 401)]
    assert not refused, refused
    paths = [p.partition("?")[0] for _, p, _ in requests]
    # JWT mode: one exchange per client family, then JWTs; sampling through the
    # session-level poll, and the handle's client joined the sampling session.
    assert paths.count("/api/v1/auth/token") >= 3  # the first exchanges, then replays
    assert any(status == 401 for _, _, status in requests)
    assert "/api/v1/retrieve_futures" in paths and "/api/v1/join_sampling_session" in paths
    for route in ("/api/v1/copy_weights", "/api/v1/sessions/search", "/api/v1/audit",
                  "/api/v1/billing/usage/events", "/api/v1/billing/usage/checkpoints/current"):
        assert route in paths, route


@pytest.mark.conformance
@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
def test_official_sdk_024_sends_protobuf_bodies_when_the_config_asks(tmp_path: Path) -> None:
    """0.19 - 0.24.1 switch to protobuf (and zstd) bodies only on the client config flags."""
    result, requests, log, seconds = run_flow(
        "0.24.1", FLOW_OLD, ["--proto-fwdbwd", "--proto-compress-fwdbwd"], tmp_path)
    check_flow("0.24.1", result, requests, log, seconds, "zstd")


# ---- codec interop, no HTTP -----------------------------------------------------------------


def sample_fixture() -> T.SampleResponse:
    return T.SampleResponse(
        sequences=[T.SampledSequence(stop_reason="length", tokens=[3, 1, 4],
                                     logprobs=[-0.5, -1.25, -2.0],
                                     topk_logprobs=[[(3, -0.5), (9, -3.0)], None, [(4, -2.0)]]),
                   T.SampledSequence(stop_reason="stop", tokens=[2], logprobs=[-0.75])],
        prompt_logprobs=[None, -1.5, -0.25], topk_prompt_logprobs=[None, [(8, -1.5)], None],
        prompt_cache_hit_tokens=1,
        target_prompt_logprobs=T.TensorData(data=[-1.0, -2.0], dtype="float32", shape=[2, 3],
                                            sparse_crow_indices=[0, 1, 2],
                                            sparse_col_indices=[2, 0]),
        prompt_alt_tokens=T.PromptAltTokens(
            tokens=T.TensorData(data=[1, 2, 3, 4], dtype="int64", shape=[2, 2]),
            logprobs=T.TensorData(data=[-0.5, -1.5, -2.5, -3.5], dtype="float32",
                                  shape=[2, 2])))


def fbo_fixture() -> pb.ForwardBackwardOutput:
    """Two datums in one float32 record plus a third in a bfloat16 / int32 record."""
    first = codec.forward_backward_output_to_proto(T.ForwardBackwardOutput(
        loss_fn_output_type="ArrayRecord", metrics={"loss:sum": 3.5, "tokens:sum": 5.0},
        loss_fn_outputs=[{"logprobs": T.TensorData(data=[-1.0, -2.5], dtype="float32",
                                                   shape=[2]),
                          "ids": T.TensorData(data=[1, 2, 3, 4], dtype="int64", shape=[2, 2])},
                         {"logprobs": T.TensorData(data=[-0.5], dtype="float32", shape=[1]),
                          "ids": T.TensorData(data=[5, 6], dtype="int64", shape=[1, 2])}]))
    extra = first.loss_fn_outputs.add(type_tag="ArrayRecord", num_datums=1)
    extra.fields["logprobs"].CopyFrom(pb.BatchedTensor(
        data=np.asarray([0x3F80, 0xC040], "<u2").tobytes(), offsets=np.asarray([0, 4], "<i8")
        .tobytes(), dtype=pb.DTYPE_BFLOAT16))
    extra.fields["ids"].CopyFrom(pb.BatchedTensor(
        data=np.asarray([7, 8, 9], "<i4").tobytes(), offsets=np.asarray([0, 12], "<i8").tobytes(),
        dtype=pb.DTYPE_INT32, trailing_shape=[3]))
    first.loss_fn_output_type = "tinker.losses:ArrayRecord"
    return first


@pytest.mark.conformance
@pytest.mark.timeout(INSTALL_TIMEOUT + 120)
def test_codecs_agree_with_the_official_sdk(tmp_path: Path) -> None:
    python = official_sdk_python("0.38.0")
    fbo = fbo_fixture()
    sample = sample_fixture()
    (tmp_path / "fbo.bin").write_bytes(fbo.SerializeToString())
    (tmp_path / "sample.bin").write_bytes(codec.encode_sample_response(sample))
    run = subprocess.run([str(python), str(INTEROP), str(tmp_path)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-5000:]

    # 1. the schema: every field number, type, label and oneof equal
    official = json.loads((tmp_path / "official_schema.json").read_text())
    assert official == describe(pb.DESCRIPTOR)

    # 2. the official decoder reads our results as our own decoder does
    seen = json.loads((tmp_path / "decoded.json").read_text())
    ours = codec.decode_forward_backward_output(fbo.SerializeToString())
    assert seen["fbo"]["loss_fn_output_type"] == ours.loss_fn_output_type == "ArrayRecord"
    assert seen["fbo"]["metrics"] == ours.metrics
    assert seen["fbo"]["outputs"] == [
        {name: {"data": td.data, "dtype": td.dtype.value, "shape": td.shape, "crow": None,
                "col": None} for name, td in out.items()} for out in ours.loss_fn_outputs]
    assert seen["fbo"]["outputs"][2]["logprobs"]["data"] == [1.0, -3.0]  # bfloat16 widened
    got = seen["sample"]
    assert [s["tokens"] for s in got["sequences"]] == [s.tokens for s in sample.sequences]
    assert [s["stop_reason"] for s in got["sequences"]] == ["length", "stop"]
    assert [s["logprobs"] for s in got["sequences"]] == [s.logprobs for s in sample.sequences]
    assert [s["topk_logprobs"] for s in got["sequences"]] == [
        [[[3, -0.5], [9, -3.0]], None, [[4, -2.0]]], None]
    assert got["prompt_logprobs"] == [None, -1.5, -0.25]
    assert got["topk_prompt_logprobs"] == [None, [[8, -1.5]], None]
    assert got["prompt_cache_hit_tokens"] == 1
    assert got["target_prompt_logprobs"] == {"data": [-1.0, -2.0], "dtype": "float32",
                                             "shape": [2, 3], "crow": [0, 1, 2], "col": [2, 0]}
    assert got["prompt_alt_tokens"]["tokens"]["data"] == [1, 2, 3, 4]
    assert got["prompt_alt_tokens"]["logprobs"]["data"] == [-0.5, -1.5, -2.5, -3.5]

    # 3. we read the official encoder's request (plain and zstd) with every detail intact
    for name, encoding in (("request.bin", None), ("request.zst", "zstd")):
        call = codec.decode_forward_backward_request((tmp_path / name).read_bytes(), encoding)
        assert (call.model_id, call.seq_id, call.forward_only) == ("sess:train:0", 4, True)
        assert call.input.loss_fn.value == "ppo"
        assert call.input.loss_fn_config == {"clip_low_threshold": 0.75, "loss_id": "custom-1"}
        (datum,) = call.input.data
        text, image = datum.model_input.chunks
        assert text == T.EncodedTextChunk(tokens=[5, 6, 7])
        assert (image.format.value, image.expected_tokens) == ("png", 2)
        assert image.data == "iVBORy1ieXRlcw=="  # base64 of the raw bytes sent
        assert datum.loss_fn_inputs["target_tokens"] == T.TensorData(
            data=[6, 7, 8, 9, 10], dtype="int64", shape=[5])
        assert datum.loss_fn_inputs["weights"].to_numpy()[[0, 4]].tolist() == [[0.0, 0.5],
                                                                               [2.0, 0.0]]
        assert call.spans == (codec.DatumSpans(
            model_input=(codec.ProvenanceSpan("prompt", "seq-a", 0, 3),
                         codec.ProvenanceSpan("sampled", "seq-b", 1, 2)),
            loss_fn_inputs=(codec.ProvenanceSpan("sampled", "seq-b", 0, 5),)),)
