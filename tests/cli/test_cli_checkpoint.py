"""``tinkex checkpoint ...`` against a real emulator."""

from __future__ import annotations

import json
import re
from pathlib import Path

import requests
from cli_helpers import Invoke, Seeded, assert_one_error_line, new_key, seed

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def listed_paths(invoke: Invoke, key: str, *args: str) -> list[str]:
    result = invoke("checkpoint", "list", "--format", "json", *args, api_key=key)
    assert result.exit_code == 0, result.stderr
    return [c["tinker_path"] for c in json.loads(result.stdout)["checkpoints"]]


def info_json(invoke: Invoke, key: str, path: str) -> dict:
    result = invoke("checkpoint", "info", path, "--format", "json", api_key=key)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# ---- list -------------------------------------------------------------------------------


def test_list_table_is_aligned_with_iso_times_and_human_sizes(invoke: Invoke, seeded: Seeded):
    result = invoke("checkpoint", "list", api_key=seeded.api_key)
    assert result.exit_code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["PATH", "TYPE", "SIZE", "PUBLIC", "CREATED", "EXPIRES"]
    assert len(rows) == 2
    starts = [header.index(h) for h in ("TYPE", "SIZE", "PUBLIC", "CREATED", "EXPIRES")]
    for row in rows:
        for start in starts:  # every column starts where its header does
            assert row[start - 2:start] == "  " and row[start] != " ", (row, start)
        assert ISO.search(row) and re.search(r"\d+\.\d (KiB|MiB)", row)
    assert {r.split()[0] for r in rows} == {*seeded.training_paths, *seeded.sampler_paths}
    assert result.stderr == ""


def test_list_json_is_sorted_and_complete(invoke: Invoke, seeded: Seeded):
    result = invoke("checkpoint", "list", "--format", "json", api_key=seeded.api_key)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert result.stdout.strip() == json.dumps(data, sort_keys=True, indent=2)
    assert data["has_more"] is False
    by_path = {c["tinker_path"]: c for c in data["checkpoints"]}
    assert by_path[seeded.training_paths[0]]["checkpoint_type"] == "training"
    assert by_path[seeded.sampler_paths[0]]["checkpoint_type"] == "sampler"
    assert isinstance(by_path[seeded.sampler_paths[0]]["size_bytes"], int)


def test_list_limit_and_limit_zero_means_all(invoke: Invoke, emulator: str):
    key = new_key()
    made = seed(emulator, key, training=(), sampler=[f"s{i:02d}" for i in range(23)])
    default = invoke("checkpoint", "list", api_key=key)
    assert len(default.stdout.splitlines()) == 1 + 20
    assert "--limit 0" in default.stderr
    limited = json.loads(invoke("checkpoint", "list", "--limit", "5", "--format", "json",
                                api_key=key).stdout)
    assert len(limited["checkpoints"]) == 5 and limited["has_more"] is True
    assert set(listed_paths(invoke, key, "--limit", "0")) == set(made.sampler_paths)
    everything = invoke("checkpoint", "list", "--limit", "0", api_key=key)
    assert len(everything.stdout.splitlines()) == 1 + 23 and everything.stderr == ""


def test_list_by_run_and_empty(invoke: Invoke, emulator: str, seeded: Seeded):
    other = seed(emulator, seeded.api_key, training=("other",), sampler=())
    assert listed_paths(invoke, seeded.api_key, "--run-id", other.run_id) == [
        other.training_paths[0]]
    assert len(listed_paths(invoke, seeded.api_key)) == 3
    empty = invoke("checkpoint", "list", api_key=new_key())
    assert empty.exit_code == 0 and empty.stdout.strip() == "No checkpoints."


def test_list_of_a_missing_run_is_one_error_line(invoke: Invoke):
    result = invoke("checkpoint", "list", "--run-id", "no-such-run")
    assert_one_error_line(result, "no-such-run", "not found", "404")


# ---- info -------------------------------------------------------------------------------


def test_info_table_and_json(invoke: Invoke, seeded: Seeded):
    path = seeded.training_paths[0]
    result = invoke("checkpoint", "info", path, api_key=seeded.api_key)
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "Path:" in text and path in text and "tinkex/tiny-lm" in text
    assert re.search(r"LoRA rank:\s+4", text) and re.search(r"Expires:\s+never", text)
    data = info_json(invoke, seeded.api_key, path)
    assert data["tinker_path"] == path and data["checkpoint_id"] == "weights/state-1"
    assert data["weights"]["base_model"] == "tinkex/tiny-lm" and data["weights"]["lora_rank"] == 4


def test_info_prints_the_console_and_playground_links(emulator: str, invoke: Invoke,
                                                      seeded: Seeded):
    training = info_json(invoke, seeded.api_key, seeded.training_paths[0])
    assert training["console_url"].startswith(f"{emulator}/console/link/")
    assert "playground_url" not in training
    sampler = info_json(invoke, seeded.api_key, seeded.sampler_paths[0])
    assert requests.get(sampler["console_url"], timeout=30).status_code == 200
    assert requests.get(sampler["playground_url"], timeout=30).status_code == 200
    text = invoke("checkpoint", "info", seeded.sampler_paths[0], api_key=seeded.api_key).stdout
    assert re.search(r"Console:\s+http", text) and re.search(r"Playground:\s+http", text)


def test_info_of_a_missing_checkpoint_is_one_error_line(invoke: Invoke, seeded: Seeded):
    missing = seeded.training_paths[0] + "-gone"
    assert_one_error_line(invoke("checkpoint", "info", missing, api_key=seeded.api_key),
                          "not found", missing)
    assert_one_error_line(invoke("checkpoint", "info", "tinker://nobody/weights/x"),
                          "not found")


def test_info_of_a_bad_path_is_one_error_line(invoke: Invoke):
    assert_one_error_line(invoke("checkpoint", "info", "s3://bucket/x"), "not a tinker path")
    assert_one_error_line(invoke("checkpoint", "info", "tinker://run/bogus/x"),
                          "unknown checkpoint kind")


# ---- download ---------------------------------------------------------------------------


def test_download_then_refuse_then_force(invoke: Invoke, seeded: Seeded, tmp_path: Path):
    path = seeded.sampler_paths[0]
    first = invoke("checkpoint", "download", path, "--output", str(tmp_path),
                   api_key=seeded.api_key)
    assert first.exit_code == 0, first.stderr
    target = Path(first.stdout.strip())
    assert target.parent == tmp_path and any(target.iterdir())
    assert first.stderr == ""  # no progress bar when stderr is not a terminal
    marker = target / "stale-file"
    marker.write_text("old")

    again = invoke("checkpoint", "download", path, "--output", str(tmp_path),
                   api_key=seeded.api_key)
    assert_one_error_line(again, "already exists", "--force")
    assert marker.exists()

    forced = invoke("checkpoint", "download", path, "-o", str(tmp_path), "--force",
                    "--progress", api_key=seeded.api_key)
    assert forced.exit_code == 0, forced.stderr
    assert Path(forced.stdout.strip()) == target and not marker.exists()
    assert "download" in forced.stderr  # the progress bar went to stderr, not stdout
    assert forced.stdout.count("\n") == 1


def test_download_of_a_missing_checkpoint(invoke: Invoke, seeded: Seeded, tmp_path: Path):
    result = invoke("checkpoint", "download", seeded.sampler_paths[0] + "x", "-o",
                    str(tmp_path), api_key=seeded.api_key)
    assert_one_error_line(result, "not found")
    assert list(tmp_path.iterdir()) == []


# ---- delete -----------------------------------------------------------------------------


def test_delete_validates_every_path_before_deleting_any(invoke: Invoke, seeded: Seeded):
    good = seeded.training_paths[0]
    result = invoke("checkpoint", "delete", good, "not-a-path", "tinker://r/nope/x", "--yes",
                    api_key=seeded.api_key)
    assert_one_error_line(result, "'not-a-path'", "'nope'", "nothing was deleted")
    assert good in listed_paths(invoke, seeded.api_key)


def test_delete_asks_once_and_no_keeps_everything(invoke: Invoke, seeded: Seeded):
    paths = [*seeded.training_paths, *seeded.sampler_paths]
    result = invoke("checkpoint", "delete", *paths, input="n\n", api_key=seeded.api_key)
    assert result.exit_code == 1
    assert result.stderr.count("Delete 2 checkpoints?") == 1
    assert "Error: aborted (nothing was deleted)" in result.stderr
    assert result.stdout == ""
    assert set(listed_paths(invoke, seeded.api_key)) == set(paths)


def test_delete_confirmed_with_y(invoke: Invoke, seeded: Seeded):
    paths = [*seeded.training_paths, *seeded.sampler_paths]
    result = invoke("checkpoint", "delete", *paths, input="y\n", api_key=seeded.api_key)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [f"Deleted {p}" for p in paths]
    assert listed_paths(invoke, seeded.api_key) == []


def test_delete_with_yes_reports_each_path_and_fails_if_any_failed(invoke: Invoke,
                                                                   seeded: Seeded):
    good = seeded.training_paths[0]
    missing = good + "-gone"
    result = invoke("checkpoint", "delete", good, missing, seeded.sampler_paths[0], "--yes",
                    api_key=seeded.api_key)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [f"Deleted {good}", f"Deleted {seeded.sampler_paths[0]}"]
    failures = [line for line in result.stderr.splitlines() if line.startswith("Failed")]
    assert len(failures) == 1 and missing in failures[0] and "404" in failures[0]
    assert result.stderr.splitlines()[-1] == "Error: 1 of 3 checkpoints could not be deleted"
    assert listed_paths(invoke, seeded.api_key) == []


def test_delete_without_answer_aborts(invoke: Invoke, seeded: Seeded):
    result = invoke("checkpoint", "delete", seeded.training_paths[0], input="",
                    api_key=seeded.api_key)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert seeded.training_paths[0] in listed_paths(invoke, seeded.api_key)


# ---- publish, unpublish, set-ttl --------------------------------------------------------


def test_publish_and_unpublish(invoke: Invoke, seeded: Seeded):
    path = seeded.training_paths[0]
    published = invoke("checkpoint", "publish", path, api_key=seeded.api_key)
    assert published.exit_code == 0 and published.stdout.strip() == f"Published {path}"
    assert info_json(invoke, seeded.api_key, path)["public"] is True
    unpublished = invoke("checkpoint", "unpublish", path, api_key=seeded.api_key)
    assert unpublished.exit_code == 0 and unpublished.stdout.strip() == f"Unpublished {path}"
    assert info_json(invoke, seeded.api_key, path)["public"] is False
    assert_one_error_line(invoke("checkpoint", "publish", path + "x", api_key=seeded.api_key),
                          "not found")


def test_set_ttl_and_remove(invoke: Invoke, seeded: Seeded):
    path = seeded.sampler_paths[0]
    result = invoke("checkpoint", "set-ttl", path, "--ttl", "7200", api_key=seeded.api_key)
    assert result.exit_code == 0, result.stderr
    assert info_json(invoke, seeded.api_key, path)["expires_at"] is not None
    result = invoke("checkpoint", "set-ttl", path, "--remove", api_key=seeded.api_key)
    assert result.exit_code == 0, result.stderr
    assert info_json(invoke, seeded.api_key, path)["expires_at"] is None


def test_set_ttl_needs_exactly_one_of_ttl_or_remove(invoke: Invoke, seeded: Seeded):
    path = seeded.sampler_paths[0]
    for extra in ([], ["--ttl", "7200", "--remove"]):
        result = invoke("checkpoint", "set-ttl", path, *extra, api_key=seeded.api_key)
        assert result.exit_code == 2
        assert "exactly one of --ttl SECONDS or --remove" in result.stderr
    assert invoke("checkpoint", "set-ttl", path, "--ttl", "0").exit_code == 2
    assert info_json(invoke, seeded.api_key, path)["expires_at"] is None
