"""Every console page in a real headless Chromium, after a short training run.

The browser follows the sign-in link the client configuration hands out (as a
person clicking a printed link would) and reads the rendered pages: the loss
chart has one point per step and falls, the checkpoints and sessions listed are
the ones the REST API lists, another key's run is a 404, the playground returns
text. A screenshot of the run page is kept in ``build/test-artifacts/console/``.

Skipped, saying so, when no Chromium is installed (``apt-get install chromium``
or ``TINKEX_CHROMIUM=/path/to/chrome``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from cdp_browser import Browser, Page, find_chromium
from console_helpers import ARTIFACTS, KEY, OTHER_KEY, STEPS, Trained, console_link

import tinkex

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium not found: browser tests of the console skipped "
                             "(apt-get install chromium, or set TINKEX_CHROMIUM)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM is not None
    chromium = Browser(CHROMIUM)
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser: Browser) -> Page:
    return browser.new_page()


@pytest.fixture(scope="module")
def rest(trained: Trained) -> Iterator[tinkex.RestClient]:
    client = tinkex.RestClient(base_url=trained.base_url, api_key=KEY)
    yield client
    client.close()


def open_signed_in(page: Page, trained: Trained, path: str) -> int:
    """Follow the sign-in link to ``path`` (a console path such as ``/sessions``)."""
    return page.goto(trained.console_url + path)


def points(page: Page, selector: str) -> list[tuple[float, float]]:
    raw = page.attribute(selector, "points")
    assert len(raw) == 1, f"expected one {selector}, found {len(raw)}"
    return [(float(x), float(y)) for x, y in (p.split(",") for p in (raw[0] or "").split())]


def test_run_page_draws_one_falling_point_per_step(page: Page, trained: Trained) -> None:
    run = quote(trained.model_id, safe=":")
    assert open_signed_in(page, trained, f"/training_runs/{run}") == 200
    assert page.url == f"{trained.base_url}/console/training_runs/{run}"  # token gone
    assert page.text("h1") == [f"Training run {trained.model_id}"]
    loss = points(page, 'svg[data-chart="loss"] polyline[data-series="train"]')
    assert len(loss) == STEPS
    xs = [x for x, _ in loss]
    assert xs == sorted(xs)
    assert loss[-1][1] > loss[0][1]  # SVG y grows downwards: the loss fell
    for chart in ("tokens", "learning_rate", "grad_norm", "param_norm"):
        assert len(points(page, f'svg[data-chart="{chart}"] polyline')) == STEPS, chart
    assert page.text("[data-steps]") == [str(STEPS)]
    width = page.evaluate('document.querySelector(\'svg[data-chart="loss"]\')'
                          ".getBoundingClientRect().width")
    assert width > 600  # the stylesheet loaded (the wide chart spans the page)
    page.screenshot(ARTIFACTS / "run-page.png")


def test_checkpoints_and_sampling_sessions_match_the_rest_api(
        page: Page, trained: Trained, rest: tinkex.RestClient) -> None:
    assert open_signed_in(page, trained, f"/training_runs/{quote(trained.model_id, safe=':')}") \
        == 200
    listed = rest.list_checkpoints(trained.model_id).result().checkpoints
    shown = page.attribute("#checkpoints tbody tr", "data-tinker-path")
    assert shown == [c.tinker_path for c in listed]
    assert set(shown) == {trained.sampler_path, trained.state_path}
    sizes = page.text("#checkpoints tbody tr td:nth-child(3)")
    assert all(size.endswith("KB") for size in sizes)
    session = rest.get_session(trained.session_id).result()
    samplers = page.attribute("#samplers tbody tr", "data-sampler-id")
    assert samplers == [s for s in session.sampler_ids if s in samplers] == [trained.sampler_id]

    # the checkpoint's own page, reached by clicking its link
    link = page.evaluate(f'document.querySelector(\'#checkpoints tr[data-tinker-path='
                         f'"{trained.sampler_path}"] a\').href')
    assert page.goto(link) == 200
    assert trained.sampler_path in page.text("#checkpoint dd")


def test_runs_and_sessions_pages_list_what_the_api_lists(
        page: Page, trained: Trained, rest: tinkex.RestClient) -> None:
    assert open_signed_in(page, trained, "/training_runs") == 200
    runs = [r.training_run_id for r in rest.iter_training_runs()]
    assert page.attribute("#runs tbody tr", "data-run-id") == runs
    row = f'#runs tr[data-run-id="{trained.model_id}"]'
    assert page.text(f"{row} [data-last-step]") == [str(STEPS)]

    assert page.goto(f"{trained.base_url}/console/sessions") == 200
    assert page.attribute("#sessions tbody tr", "data-session-id") == list(rest.iter_sessions())

    assert page.goto(f"{trained.base_url}/console/sessions/{trained.session_id}") == 200
    session = rest.get_session(trained.session_id).result()
    assert page.attribute("#session-runs tbody tr", "data-run-id") == session.training_run_ids
    assert page.attribute("section.sampler", "data-sampler-id") == session.sampler_ids
    # the sample the run's sampling session drew: its prompt, then both completions
    sampled = page.text(f'section[data-sampler-id="{trained.sampler_id}"] .sample pre')
    assert len(sampled) == 2 and sampled[0].startswith("The quick") and len(sampled[0]) > 9


def test_another_keys_run_is_a_404_page(trained: Trained) -> None:
    assert CHROMIUM is not None
    stranger = Browser(CHROMIUM)  # a browser of its own: signed in as the other key only
    try:
        page = stranger.new_page()
        assert page.goto(console_link(trained.base_url, OTHER_KEY) + "/training_runs") == 200
        assert trained.model_id not in json.dumps(page.attribute("#runs tbody tr", "data-run-id"))
        run = quote(trained.model_id, safe=":")
        assert page.goto(f"{trained.base_url}/console/training_runs/{run}") == 404
        assert page.text("h1") == ["Not found"]
        assert page.goto(f"{trained.base_url}/console/sessions/{trained.session_id}") == 404
    finally:
        stranger.close()


def test_signing_in_with_the_form(trained: Trained) -> None:
    assert CHROMIUM is not None
    fresh = Browser(CHROMIUM)
    try:
        page = fresh.new_page()
        assert page.goto(f"{trained.base_url}/console/sessions") == 200  # via the sign-in form
        assert page.url.startswith(f"{trained.base_url}/console/login?next=")
        assert page.submit("#login", {"api_key": KEY}) == 200
        assert page.url == f"{trained.base_url}/console/sessions"
        assert trained.session_id in page.attribute("#sessions tbody tr", "data-session-id")
        assert KEY not in page.evaluate("document.documentElement.outerHTML")
        assert page.evaluate("document.cookie") == ""  # HTTP-only: no script can read it
    finally:
        fresh.close()


def test_the_playground_samples_a_checkpoint(page: Page, trained: Trained) -> None:
    path = quote(trained.sampler_path, safe="")
    assert open_signed_in(page, trained, f"/playground?mode=checkpoint&checkpoint={path}") == 200
    assert page.evaluate("document.querySelector('#playground [name=checkpoint]').value") \
        == trained.sampler_path
    status = page.submit("#playground", {"prompt": "The quick", "max_tokens": "16",
                                         "temperature": "0", "num_samples": "2"})
    assert status == 200
    completions = page.text("#completions .completion")
    assert len(completions) == 2 and all(completions)
    assert completions[0] == completions[1]  # greedy: the same text twice
    page.screenshot(ARTIFACTS / "playground.png")
