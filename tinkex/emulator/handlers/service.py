"""Client configuration, capabilities, health and telemetry."""

from __future__ import annotations

import logging
from typing import Any

from tinkex import types as T

from ..services import Services
from . import Call, handles

log = logging.getLogger("tinkex.emulator")

# The flags that keep SDK 0.18 - 0.24.1 on plain JSON over httpx, with parallel chunks
# (so seq_ids really do arrive out of order, as against the real service). The two
# proto_* flags follow --proto-fwdbwd / --proto-compress-fwdbwd; SDK >= 0.25 send
# protobuf forward_backward bodies whatever proto_write_fwdbwd says.
CLIENT_CONFIG: dict[str, Any] = {
    "pjwt_auth_enabled": False,
    "proto_write_fwdbwd": False,
    "proto_compress_fwdbwd": False,
    "use_pyqwest_transport": False,
    "sample_use_retrieve_futures": False,
    "custom_loss_server_side": False,
    "sample_join_sampling_session": True,  # served: copies never guess a seq_id block
    "parallel_fwdbwd_chunks": True,
}


@handles("client_config")
def client_config(s: Services, call: Call) -> dict[str, Any]:
    return dict(CLIENT_CONFIG, proto_write_fwdbwd=s.config.proto_fwdbwd,
                proto_compress_fwdbwd=s.config.proto_compress_fwdbwd,
                console_url=s.console.link(str(call.request.base_url), call.owner))


@handles("client_dynamic_config")
def client_dynamic_config(s: Services, call: Call) -> dict[str, Any]:
    return {}


@handles("get_server_capabilities")
def get_server_capabilities(s: Services, call: Call) -> T.GetServerCapabilitiesResponse:
    return T.GetServerCapabilitiesResponse(supported_models=[
        T.SupportedModel(model_name=name, max_context_length=s.catalog.max_context(name),
                         trainable=True, sampleable=True)
        for name in s.catalog.names()])


@handles("healthz")
def healthz(s: Services, call: Call) -> T.HealthResponse:
    return T.HealthResponse(status="ok")


@handles("send_telemetry")
def send_telemetry(s: Services, call: Call) -> T.TelemetryResponse:
    # Event data can hold request headers (credentials): count, never log contents.
    body: T.TelemetrySendRequest = call.body
    log.debug("telemetry: %d event(s) from SDK %s", len(body.events), body.sdk_version)
    return T.TelemetryResponse(status="accepted")
