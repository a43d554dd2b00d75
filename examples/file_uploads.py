"""File uploads with the generic core: multipart forms and raw bodies, streamed from disk.

The Tinker API takes no uploads, so this script shows the core on an API of
its own: a three-line manifest section (``body_encoding: {type: multipart}`` or
``{type: raw}``) is all an operation needs. Files may be paths (opened only
while they are sent), bytes, seekable file objects or ``(filename, content,
content_type)`` tuples; nested form fields are sent with brackets. The script
compiles its manifest with ``codegen`` (run it from a checkout) and serves the
API itself on loopback, so it needs no emulator (``python -m tinkex.emulator``
is not involved)::

    python examples/file_uploads.py
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codegen.build import build  # type: ignore[import-untyped]  # noqa: E402

from tinkex.core import ClientConfig, Engine, OperationTable, build_api  # noqa: E402

MANIFEST = """
manifest_version: 1
api: {name: albums, title: Albums, version: "1", base_url: "http://127.0.0.1:9"}
auth: {header: X-Album-Key}
defaults: {pool: main, retry: standard, timeout: {connect: 2, read: 10}}
pools: {main: {connections: 2}}
retry_policies:
  standard: {max_attempts: 3, statuses: [503], backoff: {initial: 0.01, max: 0.05}}
errors: {map: [{status: 5XX, exception: InternalServerError}]}
sdk: {client_class: AlbumsAPI, groups: {photos: {class_name: PhotosAPI}}}
types:
  Upload:
    type: object
    properties:
      image: {type: string, format: binary}
      title: {type: string}
      labels: {type: object, properties: {tags: {type: array, items: {type: string}}}}
    required: [image, title]
  Received:
    type: object
    properties: {parts: {type: array, items: {type: string}}, bytes: {type: integer}}
    required: [parts, bytes]
operations:
  - id: add_photo
    method: POST
    path: /photos
    body: Upload
    body_encoding: {type: multipart}
    result: Received
    sdk: {group: photos, method: add}
  - id: put_original
    method: PUT
    path: /photos/{photo_id}/original
    params: [{name: photo_id, in: path, schema: {type: string}}]
    body_encoding: {type: raw, media: image/jpeg}
    result: Received
    sdk: {group: photos, method: put_original}
"""


class Service(BaseHTTPRequestHandler):
    """Says what it received: the form's part names (with file names), or the body size."""

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        kind = self.headers["Content-Type"]
        parts: list[str] = []
        if kind.startswith("multipart/"):
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                f"Content-Type: {kind}\r\n\r\n".encode() + body)
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                filename = part.get_filename()
                parts.append(f"{name} ({filename})" if filename else f"{name}")
        answer = json.dumps({"parts": parts, "bytes": len(body)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_POST = do_PUT = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "albums.yaml").write_text(MANIFEST)
        result = build(out / "albums.yaml", models_module="albums_models",
                       runtime_module="albums_api")
        (out / "openapi.json").write_text(result.openapi_json)
        (out / "extensions.schema.json").write_text(result.extensions_json)
        table = OperationTable.load(out / "openapi.json")
        photo = out / "beach.jpg"
        photo.write_bytes(b"\xff\xd8" + b"\x00" * 3_000_000)  # a 3 MB "photo"

        server = ThreadingHTTPServer(("127.0.0.1", 0), Service)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            config = ClientConfig.resolve(table, api_key="album-key",
                                          base_url=f"http://127.0.0.1:{server.server_address[1]}",
                                          environ={})
            engine = Engine(table, config)
            api: Any = build_api(table)(engine)
            sent = api.photos.add(image=photo, title="At the beach",
                                  labels={"tags": ["sea", "sun"]})
            print(f"multipart: {', '.join(sent['parts'])} ({sent['bytes']} bytes)")
            with photo.open("rb") as original:
                raw = api.photos.put_original(photo_id="p1", content=original)
            print(f"raw body: {raw['bytes']} bytes streamed from {photo.name}")
            engine.close()
        finally:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    main()
