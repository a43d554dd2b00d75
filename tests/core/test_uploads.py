"""Multipart forms and raw bodies: encoding, streaming from files, retries (petstore, loopback)."""

from __future__ import annotations

import email.parser
import email.policy
import io
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from tinkex.core.api import build_api
from tinkex.core.config import ClientConfig
from tinkex.core.engine import Engine
from tinkex.core.errors import InvalidArgumentError
from tinkex.core.ratelimit import RateLimiterRegistry
from tinkex.core.uploads import CHUNK, form_fields, multipart_body, raw_body

from .conftest import CANARY
from .loopback import Reply

PET = {"id": 3, "name": "Rex", "species": "dog"}


@pytest.fixture
def api(server, pet_table, pet_models) -> Iterator[object]:
    cfg = ClientConfig.resolve(pet_table, api_key=CANARY, base_url=server.url, environ={})
    engine = Engine(pet_table, cfg, models_module=pet_models, rate_limiters=RateLimiterRegistry(),
                    sleep=lambda seconds: None)
    yield build_api(engine.table)(engine)
    engine.close()


def parts(content_type: str, body: bytes) -> list[tuple[str, str | None, str, bytes]]:
    """(name, filename, content type, payload) of every part of a multipart body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    assert message.is_multipart()
    return [(part.get_param("name", header="content-disposition"), part.get_filename(),
             part.get_content_type(), part.get_payload(decode=True))
            for part in message.iter_parts()]


def test_a_form_with_files_nested_fields_and_defaults(server, api, tmp_path: Path):
    photo = tmp_path / "rex.jpg"
    photo.write_bytes(b"\xff\xd8JPEG" * 1000)
    server.route("POST", "/pets/3/photos", lambda r: Reply(200, PET))
    pet = api.pets.upload_photo(
        pet_id=3, photo=photo, caption="Rex at the beach",
        extra_photos=[b"\x89PNG one", ("two.png", io.BytesIO(b"\x89PNG two"), "image/x-png")],
        meta={"tags": ["beach", "sun"], "source": {"camera": "X100", "iso": 200}})
    assert pet.id == 3
    request = server.received("/pets/3/photos")[0]
    assert int(request.headers["content-length"]) == len(request.body)
    assert request.headers["x-pet-token"] == CANARY
    got = parts(request.headers["content-type"], request.body)
    assert got == [
        ("caption", None, "text/plain", b"Rex at the beach"),
        ("meta[tags][]", None, "text/plain", b"beach"),
        ("meta[tags][]", None, "text/plain", b"sun"),
        ("meta[source][camera]", None, "text/plain", b"X100"),
        ("meta[source][iso]", None, "text/plain", b"200"),
        ("public", None, "text/plain", b"false"),
        ("photo", "rex.jpg", "image/jpeg", b"\xff\xd8JPEG" * 1000),
        ("extra_photos", "extra_photos", "application/octet-stream", b"\x89PNG one"),
        ("extra_photos", "two.png", "image/x-png", b"\x89PNG two"),
    ]


def test_a_retry_sends_the_same_form_and_files_again(server, api, tmp_path: Path):
    photo = tmp_path / "p.png"
    photo.write_bytes(b"\x89PNG" + bytes(range(256)) * 50)
    handle = io.BytesIO(b"skip me|" + b"kept bytes")
    handle.seek(len(b"skip me|"))  # sent from where the file object stands
    server.script("POST", "/pets/3/photos", [Reply(503), Reply(200, PET)])
    api.pets.upload_photo(pet_id=3, photo=photo, caption="c", extra_photos=[handle])
    first, second = server.received("/pets/3/photos")
    assert first.body == second.body
    names = [(p[0], p[3]) for p in parts(second.headers["content-type"], second.body)]
    assert ("extra_photos", b"kept bytes") in names


def test_fields_are_validated_and_files_checked_before_sending(server, api):
    with pytest.raises(InvalidArgumentError, match="caption"):
        api.pets.upload_photo(pet_id=3, photo=b"x", caption="")
    with pytest.raises(TypeError, match="missing required keyword argument.*photo"):
        api.pets.upload_photo(pet_id=3, caption="c")
    with pytest.raises(TypeError, match="photo: a str is ambiguous"):
        api.pets.upload_photo(pet_id=3, photo="rex.jpg", caption="c")
    with pytest.raises(ValueError, match="cannot upload .*missing.jpg"):
        api.pets.upload_photo(pet_id=3, photo=Path("/nonexistent/missing.jpg"), caption="c")
    assert server.received("/pets/3/photos") == []


def test_raw_bodies_from_bytes_paths_and_files(server, api, tmp_path: Path):
    server.route("PUT", "/pets/3/avatar", lambda r: Reply(200))
    image = tmp_path / "avatar.png"
    image.write_bytes(b"\x89PNG" * 5000)
    api.pets.put_avatar(pet_id=3, content=b"\x89PNG small")
    api.pets.put_avatar(pet_id=3, content=image)
    with image.open("rb") as handle:
        api.pets.put_avatar(pet_id=3, content=handle)
        assert not handle.closed  # the caller's file stays the caller's
    small, from_path, from_file = server.received("/pets/3/avatar")
    assert small.body == b"\x89PNG small" and small.headers["content-type"] == "image/png"
    assert from_path.body == from_file.body == image.read_bytes()
    assert from_path.headers["content-length"] == str(image.stat().st_size)


def test_a_file_that_cannot_be_resent_is_refused(api):
    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

    with pytest.raises(TypeError, match="must be seekable"):
        api.pets.put_avatar(pet_id=3, content=Pipe())
    with pytest.raises(TypeError, match="binary mode"):
        api.pets.put_avatar(pet_id=3, content=io.StringIO("text"))


def test_large_files_are_read_in_pieces_not_loaded(tmp_path: Path):
    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        for _ in range(40):
            out.write(b"\x01" * (1 << 20))
    upload = multipart_body({"caption": "big"}, {"photo": big})
    assert len(upload) > 40 << 20
    tracemalloc.start()
    try:
        with upload.open() as reader:
            sizes = [len(chunk) for chunk in reader]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(sizes) == len(upload) and max(sizes) <= CHUNK
    assert peak < 4 << 20, peak  # a 40 MiB file, never more than a few chunks in memory
    assert raw_body(big, "application/octet-stream").length == 40 << 20


def test_form_field_names_and_escaping():
    assert list(form_fields({"a": [1, {"b": True}], "c": None}, "x")) == [
        ("x[a][]", "1"), ("x[a][][b]", "true")]
    body = multipart_body({"we\"ird": "v"}, {"f": ("a\r\nb.txt", b"data")}, boundary="B").read_all()
    assert b'name="we%22ird"' in body and b'filename="a%0D%0Ab.txt"' in body
    assert body.endswith(b"--B--\r\n")
