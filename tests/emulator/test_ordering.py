"""Per-model execution order: seq_id order despite arrival order, gap skipping, dedupe."""

from __future__ import annotations

from emulator_client import Client, StartEmulator, fb_body, fwd_body, optim_body


def _loss(out: dict) -> float:
    return float(out["metrics"]["loss:sum"])


def test_out_of_order_requests_run_in_seq_id_order(start_emulator: StartEmulator) -> None:
    client = Client(start_emulator(poll_hold=0.2).base_url)
    reference = client.model()
    start = _loss(client.run("/api/v1/forward", fwd_body(reference, 1)))
    client.run("/api/v1/forward_backward", fb_body(reference, 2))
    client.run("/api/v1/optim_step", optim_body(reference, 3))
    expected = _loss(client.run("/api/v1/forward", fwd_body(reference, 4)))
    assert expected < start

    model = client.model()
    late_forward = client.submit("/api/v1/forward", fwd_body(model, 3))
    late_optim = client.submit("/api/v1/optim_step", optim_body(model, 2))
    # Nothing runs while seq_id 1 is missing.
    assert client.poll(late_forward).status_code == 408
    assert client.poll(late_optim).status_code == 408
    client.submit("/api/v1/forward_backward", fb_body(model, 1))
    assert _loss(client.result(late_forward)) == expected


def test_a_gap_is_skipped_after_the_gap_timeout(start_emulator: StartEmulator) -> None:
    client = Client(start_emulator(poll_hold=0.1, gap_timeout=0.5).base_url)
    model = client.model()
    waiting = client.submit("/api/v1/forward", fwd_body(model, 2))
    assert client.poll(waiting).status_code == 408
    assert "loss:sum" in client.result(waiting, timeout=10)["metrics"]
    late = client.result(client.submit("/api/v1/forward", fwd_body(model, 1)))
    assert late["category"] == "user" and "already run" in late["error"]


def test_a_duplicate_seq_id_gets_the_first_future_and_runs_once(
        start_emulator: StartEmulator) -> None:
    client = Client(start_emulator().base_url)
    once, twice = client.model(), client.model()
    client.run("/api/v1/forward_backward", fb_body(once, 1))
    first = client.submit("/api/v1/forward_backward", fb_body(twice, 1))
    assert client.submit("/api/v1/forward_backward", fb_body(twice, 1)) == first
    client.result(first)
    assert client.submit("/api/v1/forward_backward", fb_body(twice, 1)) == first
    norm_once = client.run("/api/v1/optim_step", optim_body(once, 2))["metrics"]["grad_norm:mean"]
    norm_twice = client.run("/api/v1/optim_step", optim_body(twice, 2))["metrics"]["grad_norm:mean"]
    assert norm_twice == norm_once > 0
