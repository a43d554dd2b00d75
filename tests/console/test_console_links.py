"""``get_console_url()`` / ``get_playground_url()`` of the clients and save results.

Against the emulator they open its console (signed in, on the right page);
against a server whose client config does not name a console they are the
hosted console's links.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
import requests
import responses
from console_helpers import KEY

import tinkex
from tinkex import types
from tinkex.emulator import Emulator

HOSTED = "https://tinker.thinkingmachines.ai"


@pytest.fixture
def service(console_emulator: Emulator) -> Iterator[tinkex.ServiceClient]:
    # JSON passes never ask for the client config: the links must ask for it themselves
    with tinkex.ServiceClient(base_url=console_emulator.base_url, api_key=KEY,
                              wire_format="json") as client:
        yield client


def opens(url: str, *fragments: str) -> None:
    page = requests.get(url, timeout=30)
    assert page.status_code == 200, (url, page.status_code)
    assert "/link/" not in page.url  # the browser is signed in and the token is gone
    for fragment in fragments:
        assert fragment in page.text, fragment


def test_client_links_open_the_emulators_console(service: tinkex.ServiceClient,
                                                 console_emulator: Emulator) -> None:
    link = f"{console_emulator.base_url}/console/link/"
    before = service.get_console_url()
    assert before.startswith(link) and before.endswith("/sessions")
    training = service.create_lora_training_client(base_model="tinkex/micro-lm", rank=4)
    run_url = training.get_console_url()
    assert run_url.startswith(link) and run_url.endswith(f"/training_runs/{training.model_id}")
    opens(run_url, training.model_id)
    opens(service.get_console_url(), service.session_id)


def test_save_results_link_to_their_checkpoint_and_the_playground(
        service: tinkex.ServiceClient) -> None:
    training = service.create_lora_training_client(base_model="tinkex/micro-lm", rank=4)
    state = training.save_state("linked-state").result()
    sampler = training.save_weights_for_sampler("linked-sampler").result()
    opens(state.get_console_url(), state.path)
    opens(sampler.get_console_url(), sampler.path)
    playground = sampler.get_playground_url()
    assert unquote(playground).endswith(f"checkpoint={sampler.path}")
    opens(playground, f'value="{sampler.path}"')
    # the link never makes a result differ from one built by hand, and survives pickling
    assert state == types.SaveWeightsResponse(path=state.path, type=state.type)
    assert pickle.loads(pickle.dumps(state)).get_console_url() == state.get_console_url()


def test_results_made_by_hand_link_to_the_hosted_console() -> None:
    saved = types.SaveWeightsForSamplerResponse(path="tinker://run:train:0/sampler_weights/s")
    assert saved.get_console_url() == (
        f"{HOSTED}/checkpoints/run%3Atrain%3A0/sampler_weights%2Fs")
    assert saved.get_playground_url() == (
        f"{HOSTED}/playground?mode=checkpoint&checkpoint="
        "tinker%3A%2F%2Frun%3Atrain%3A0%2Fsampler_weights%2Fs")


@responses.activate
def test_a_server_without_a_console_gets_the_hosted_one() -> None:
    base = "http://tinker.invalid"
    responses.post(f"{base}/api/v1/client/config", json={"pjwt_auth_enabled": False})
    with tinkex.ServiceClient(base_url=base, api_key="tml-x") as client:
        assert client.get_console_url() == f"{HOSTED}/sessions"
    responses.replace(responses.POST, f"{base}/api/v1/client/config", status=404,
                      json={"detail": "not here"})
    with tinkex.ServiceClient(base_url=base, api_key="tml-x") as client:
        assert client.get_console_url() == f"{HOSTED}/sessions"
