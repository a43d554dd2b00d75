"""Uploaded custom losses: the graph is checked, stored per session and trained with."""

from __future__ import annotations

from typing import Any

import pytest
from emulator_client import Client, datum, fb_body, optim_body

# What SDK 0.36+ uploads for `lambda logprobs, weights: (-(logprobs * weights).sum(),
# {"custom/prob:mean": logprobs.exp().mean()})`, traced by torch.fx.
CE_GRAPH = {"format": 1, "nodes": [
    {"op": "placeholder", "name": "logprobs", "target": "logprobs"},
    {"op": "placeholder", "name": "weights", "target": "weights"},
    {"op": "call_function", "name": "mul", "target": "operator.mul",
     "args": [{"ref": "logprobs"}, {"ref": "weights"}]},
    {"op": "call_method", "name": "sum_1", "target": "sum", "args": [{"ref": "mul"}]},
    {"op": "call_function", "name": "neg", "target": "operator.neg", "args": [{"ref": "sum_1"}]},
    {"op": "call_method", "name": "exp", "target": "exp", "args": [{"ref": "logprobs"}]},
    {"op": "call_method", "name": "mean", "target": "mean", "args": [{"ref": "exp"}]},
    {"op": "output", "name": "output", "target": "output",
     "args": [{"tuple": [{"ref": "neg"}, {"dict": {"custom/prob:mean": {"ref": "mean"}}}]}]}]}
INPUTS = [{"name": "logprobs", "rank": 1}, {"name": "weights", "rank": 1}]


def upload(client: Client, session: str, graph: dict[str, Any], seq: int = 0) -> Any:
    return client.run("/api/v1/create_custom_loss", {
        "session_id": session, "custom_loss_seq_id": seq, "name": "ce", "inputs": INPUTS,
        "graph": graph})


def test_a_custom_loss_trains_exactly_like_the_builtin_it_spells_out(client: Client) -> None:
    session = client.session_id()
    builtin, custom = client.model(session, 0), client.model(session, 1)
    loss_id = upload(client, session, CE_GRAPH)["loss_id"]
    assert loss_id == f"{session}:loss:0"
    custom_body = fb_body(custom, 1, [datum()] * 2)
    custom_body["forward_backward_input"].update(loss_fn="custom",
                                                 loss_fn_config={"loss_id": loss_id})
    mine = client.result(client.submit("/api/v1/forward_backward", custom_body))
    theirs = client.result(client.submit("/api/v1/forward_backward",
                                         fb_body(builtin, 1, [datum()] * 2)))
    assert mine["metrics"]["loss:sum"] == pytest.approx(theirs["metrics"]["loss:sum"], rel=1e-5)
    assert 0 < mine["metrics"]["custom/prob:mean"] < 1
    for model in (builtin, custom):
        client.result(client.submit("/api/v1/optim_step", optim_body(model, 2)))
    after = [client.result(client.submit("/api/v1/forward_backward", fb_body(m, 3)))
             for m in (builtin, custom)]
    assert after[0]["metrics"]["loss:sum"] == pytest.approx(after[1]["metrics"]["loss:sum"],
                                                            rel=1e-4)
    assert after[0]["metrics"]["loss:sum"] < theirs["metrics"]["loss:sum"] / 2


def test_graphs_calling_what_is_not_allowed_fail_as_user_errors(client: Client) -> None:
    session = client.session_id()
    evil = {"format": 1, "nodes": [
        {"op": "placeholder", "name": "logprobs", "target": "logprobs"},
        {"op": "placeholder", "name": "weights", "target": "weights"},
        {"op": "call_function", "name": "s", "target": "os.system", "args": ["true"]},
        {"op": "output", "name": "output", "target": "output", "args": [{"ref": "s"}]}]}
    answer = client.result(client.submit("/api/v1/create_custom_loss", {
        "session_id": session, "custom_loss_seq_id": 0, "name": "evil", "inputs": INPUTS,
        "graph": evil}))
    assert answer["category"] == "user" and "'os.system' is not allowed" in answer["error"]


def test_a_loss_is_usable_only_in_its_own_session(client: Client) -> None:
    first, second = client.session_id(), client.session_id()
    loss_id = upload(client, first, CE_GRAPH)["loss_id"]
    body = fb_body(client.model(second), 1)
    body["forward_backward_input"].update(loss_fn="custom", loss_fn_config={"loss_id": loss_id})
    response = client.post("/api/v1/forward_backward", body)
    assert response.status_code == 400 and "another session" in response.text
    body["forward_backward_input"]["loss_fn_config"] = {}
    assert client.post("/api/v1/forward_backward", body).status_code == 400
