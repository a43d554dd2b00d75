"""Client configuration, capabilities, health and telemetry."""

from __future__ import annotations

import logging
from typing import Any

from tinkex import types as T

from ..services import Services
from .registry import Call, handles

log = logging.getLogger("tinkex.emulator")

# The flags that keep SDK 0.18 - 0.24.1 on plain JSON over httpx, with parallel chunks
# (so seq_ids really do arrive out of order, as against the real service). The other
# flags follow the emulator's options (--jwt-auth, --proto-fwdbwd, ...); SDK >= 0.25
# send protobuf forward_backward bodies whatever proto_write_fwdbwd says.
CLIENT_CONFIG: dict[str, Any] = {
    "use_pyqwest_transport": False,
    "parallel_fwdbwd_chunks": True,
    "credential_default_source": "api_key",
}


@handles("client_config")
def client_config(s: Services, call: Call) -> dict[str, Any]:
    c = s.config
    return dict(CLIENT_CONFIG, pjwt_auth_enabled=c.jwt_auth, proto_write_fwdbwd=c.proto_fwdbwd,
                proto_compress_fwdbwd=c.proto_compress_fwdbwd,
                sample_use_retrieve_futures=c.retrieve_futures,
                # served: copies of sampling clients never guess a seq_id block
                sample_join_sampling_session=c.join_sampling_session,
                custom_loss_server_side=c.custom_loss_server_side,
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
