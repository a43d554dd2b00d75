"""The console's parts on their own: the history log, chart layout, the font, signed tokens."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tinkex.emulator.errors import HTTPProblem
from tinkex.emulator.http.console import font
from tinkex.emulator.http.console.charts import Chart, Series, layout, linear_ticks, log_ticks
from tinkex.emulator.http.signing import Signer
from tinkex.emulator.state.history import SAMPLES_KEPT, History
from tinkex.emulator.state.store import Store

# -- history ---------------------------------------------------------------------------


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    log = History(tmp_path / "history.sqlite3")
    yield log
    log.close()


def test_a_step_gathers_the_passes_before_it(history: History) -> None:
    history.record_pass("run", True, "cross_entropy", 6.0, tokens=10, weight_sum=3.0, datums=1)
    history.record_pass("run", True, "cross_entropy", 4.0, tokens=10, weight_sum=2.0, datums=1)
    history.record_pass("run", False, "cross_entropy", 9.0, tokens=10, weight_sum=3.0, datums=1)
    history.record_step("run", 0.01, {"grad_norm:mean": 2.0, "param_norm:mean": 5.0,
                                      "update_norm:mean": 0.1})
    history.record_pass("run", True, "importance_sampling", 8.0, tokens=4, weight_sum=None,
                        datums=2)
    history.record_step("run", 0.02, {"grad_norm:mean": 1.0})
    history.record_pass("run", True, "cross_entropy", 1.0, tokens=1, weight_sum=1.0, datums=1)
    first, second = history.steps("run")
    assert (first.step, first.loss, first.tokens, first.eval_loss) == (1, 2.0, 20, 3.0)
    assert (first.learning_rate, first.grad_norm, first.param_norm) == (0.01, 2.0, 5.0)
    # no weights: the loss is per token
    assert (second.step, second.loss, second.tokens, second.eval_loss) == (2, 2.0, 4, None)
    assert second.param_norm is None
    # the last pass feeds a step that has not happened yet: not a point on the chart
    assert history.last_steps(["run", "other"]) == {"run": 2}
    assert history.steps("other") == []


def test_the_history_survives_a_restart(tmp_path: Path) -> None:
    first = History(tmp_path / "h.sqlite3")
    first.record_pass("run", True, "cross_entropy", 2.0, tokens=2, weight_sum=2.0, datums=1)
    first.record_step("run", 0.1, {})
    first.close()
    again = History(tmp_path / "h.sqlite3")
    try:
        again.record_step("run", 0.1, {})  # numbering goes on from the stored steps
        assert [(s.step, s.loss) for s in again.steps("run")] == [(1, 1.0), (2, None)]
    finally:
        again.close()


def test_only_the_newest_samples_are_kept(history: History) -> None:
    for i in range(SAMPLES_KEPT + 5):
        history.record_sample("s", f"prompt {i}", {"temperature": 0.0},
                              [{"text": str(i), "tokens": 1, "stop_reason": "length"}])
    history.record_sample("t", "other", {}, [])
    kept = history.samples("s")
    assert len(kept) == SAMPLES_KEPT
    assert kept[0].prompt == f"prompt {SAMPLES_KEPT + 4}" and kept[-1].prompt == "prompt 5"
    assert kept[0].completions[0]["text"] == str(SAMPLES_KEPT + 4)
    assert [s.prompt for s in history.samples("t")] == ["other"]


def test_a_failed_write_is_logged_not_raised(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    log = History(tmp_path / "h.sqlite3")
    log.close()
    log.record_step("run", 0.1, {})  # e.g. a compute thread finishing during shutdown
    assert "could not record training history" in caplog.text


def test_an_older_database_gains_the_new_sampler_column(tmp_path: Path) -> None:
    path = tmp_path / "emulator.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE samplers (sampler_id TEXT PRIMARY KEY, owner TEXT NOT NULL, "
               "session_id TEXT NOT NULL, base_model TEXT NOT NULL, model_path TEXT, "
               "weights_key TEXT, created_at REAL NOT NULL)")
    db.execute("INSERT INTO samplers VALUES ('old', 'o', 's', 'tinkex/tiny-lm', NULL, NULL, 1)")
    db.commit()
    db.close()
    store = Store(path)
    try:
        old = store.sampler("old")
        assert old is not None and old.source_run_id is None
        store.add_sampler("new", "o", "s", "tinkex/tiny-lm", None, "k", source_run_id="run")
        assert [s.sampler_id for s in store.samplers(source_run_id="run")] == ["new"]
        assert [s.sampler_id for s in store.samplers(session_id="s")] == ["old", "new"]
    finally:
        store.close()


# -- charts ----------------------------------------------------------------------------


@pytest.mark.parametrize(("lo", "hi", "ticks"), [
    (0.2, 5.5, [0, 2, 4, 6]),
    (0.0, 1000.0, [0, 200, 400, 600, 800, 1000]),
    (-3.0, 3.0, [-4, -2, 0, 2, 4]),
])
def test_linear_ticks_are_round_and_cover_the_range(lo: float, hi: float,
                                                    ticks: list[float]) -> None:
    start, end, found = linear_ticks(lo, hi)
    assert found == pytest.approx(ticks)
    assert start <= lo and end >= hi


def test_a_constant_series_still_gets_a_range() -> None:
    start, end, ticks = linear_ticks(0.02, 0.02)
    assert start < 0.02 < end and len(ticks) >= 2


def test_log_ticks_are_decades_with_steps_between_few_of_them() -> None:
    assert log_ticks(0.15, 5.5) == (0.1, 10.0, pytest.approx([0.1, 0.2, 0.5, 1, 2, 5, 10]))
    assert log_ticks(1e-4, 10.0)[2] == pytest.approx([1e-4, 1e-3, 1e-2, 0.1, 1, 10])


def test_layout_places_every_step_and_falls_with_the_loss() -> None:
    xs = tuple(float(i) for i in range(1, 41))
    ys = tuple(5 * math.exp(-x / 10) for x in xs)
    plot = layout(Chart("loss", "loss", (Series("train", xs, ys),)), 480, 250)
    (line,) = plot.lines
    assert line.count == len(line.points) == 40
    assert all(plot.left <= x <= plot.right and plot.top <= y <= plot.bottom
               for x, y in line.points)
    assert line.points[-1][1] > line.points[0][1]  # lower loss, lower on the page
    assert plot.log  # 5 -> 0.09 spans more than a decade
    assert plot.xticks[-1].label == "40"


def test_a_long_run_is_thinned_to_the_chart_width_keeping_its_extremes() -> None:
    n = 20_000
    xs = tuple(float(i) for i in range(1, n + 1))
    ys = tuple(1.0 + (i == 12_345) * 9.0 for i in range(1, n + 1))  # one spike
    plot = layout(Chart("loss", "loss", (Series("train", xs, ys),)), 480, 250)
    (line,) = plot.lines
    assert line.count == n and len(line.points) <= 2 * (plot.right - plot.left) + 2
    assert min(y for _, y in line.points) == pytest.approx(plot.top, abs=1)  # spike kept


def test_an_empty_chart_says_so() -> None:
    plot = layout(Chart("loss", "loss", (Series("train", (), ()),)))
    assert plot.empty and plot.lines[0].points == ()


def test_every_glyph_is_five_by_nine_and_unknown_characters_are_marked() -> None:
    for char in "0123456789abcdefghijklmnopqrstuvwxyz.,-+:/()%_=[]'<>? ":
        assert font.glyph(char).shape == (font.HEIGHT, font.WIDTH), char
    assert (font.glyph("Q") == font.glyph("q")).all()
    assert (font.glyph("é") == font.glyph("?")).all()
    assert font.glyph("8", 3).shape == (3 * font.HEIGHT, 3 * font.WIDTH)


# -- signed tokens ---------------------------------------------------------------------


def test_tokens_expire_and_are_bound_to_their_purpose() -> None:
    links = Signer(b"k" * 32, "console-link")
    token, _ = links.sign({"o": "owner"}, ttl=60)
    assert links.verify(token)["o"] == "owner"
    with pytest.raises(HTTPProblem) as other_purpose:
        Signer(b"k" * 32, "archive").verify(token)
    assert other_purpose.value.status == 403
    with pytest.raises(HTTPProblem) as other_key:
        Signer(b"x" * 32, "console-link").verify(token)
    assert other_key.value.status == 403
    payload, _, signature = token.partition(".")
    with pytest.raises(HTTPProblem):
        links.verify(payload[:-2] + "AA." + signature)
    expired, _ = links.sign({"o": "owner"}, ttl=-1)
    with pytest.raises(HTTPProblem) as late:
        links.verify(expired, "console link")
    assert late.value.status == 410 and "console link has expired" in str(late.value.detail)
