"""Raw responses: the HTTP details behind a call, then its typed result.

``service.api`` is the low-level API (one method per manifest operation);
``with_raw_response`` makes the same call and returns the response itself:
status, headers, URL, how long the call took and how many attempts it needed,
and ``parse()`` for the typed result.

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/raw_responses.py
"""

from __future__ import annotations

import tinkex


def main() -> None:
    with tinkex.ServiceClient() as service:
        raw = service.api.service.with_raw_response.get_server_capabilities()
        print(f"{raw.method} {raw.url} -> {raw.status_code} "
              f"({raw.headers.get('content-type')}) in {raw.elapsed * 1000:.1f} ms, "
              f"{raw.attempts} attempt(s)")
        capabilities = raw.parse()
        names = sorted(m.model_name or "?" for m in capabilities.supported_models)
        print(f"parsed {type(capabilities).__name__}: {len(names)} model(s): {', '.join(names)}")
        # The same view exists at the top: api.with_raw_response.<group>.<method>(...)
        runs = service.api.with_raw_response.rest.list_training_runs(limit=5)
        print(f"list_training_runs -> {runs.status_code}, "
              f"{len(runs.parse().training_runs)} run(s) on the first page")


if __name__ == "__main__":
    main()
