"""Sessions through the REST client: list your sessions, then look one up.

Every ``ServiceClient`` is one server session (created on first use and kept
alive by a heartbeat). ``RestClient.list_sessions`` pages through session ids,
``iter_sessions`` walks every page, and ``get_session`` shows the training
runs and samplers a session created.

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/sessions_management.py
"""

from __future__ import annotations

import os

import tinkex

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")


def main() -> None:
    with tinkex.ServiceClient(user_metadata={"example": "sessions_management"}) as service:
        # Give this session something to show: one training run and one sampler.
        training = service.create_lora_training_client(base_model=BASE_MODEL, rank=4)
        sampler = service.create_sampling_client(base_model=BASE_MODEL)
        print(f"this session: {service.session_id}")

        rest = service.create_rest_client()
        page = rest.list_sessions(limit=5).result()
        print(f"first page of sessions ({len(page.sessions)}): {page.sessions}")
        every = list(rest.iter_sessions(page_size=5))
        print(f"all sessions: {len(every)} (walked page by page)")
        if service.session_id not in every:
            raise SystemExit("the current session is not listed")

        session = rest.get_session(service.session_id).result()
        print(f"session {service.session_id} has {len(session.training_run_ids)} training run(s) "
              f"and {len(session.sampler_ids)} sampler(s)")
        print(f"  training runs: {session.training_run_ids}")
        print(f"  samplers:      {session.sampler_ids}")
        print(f"  user_metadata: {session.user_metadata}")
        if training.model_id not in session.training_run_ids:
            raise SystemExit("the training run is missing from its session")
        if sampler.sampling_session_id not in session.sampler_ids:
            raise SystemExit("the sampler is missing from its session")


if __name__ == "__main__":
    main()
