"""Circuit breaker and the shared rate limiter: fail fast while the server is failing.

``ServiceClient(circuit_breaker=True)`` turns on the manifest's breakers (off
by default): after 5 server failures in a row on a connection pool, calls on
that pool fail at once with ``tinkex.CircuitOpenError`` for 30 s, then one
trial call decides whether the pool is healthy again. The shared rate limiter
needs no switch: a 429 makes every client of the same API key in the process
wait out the server's ``Retry-After``.

Against a healthy server every call succeeds; start the emulator with
``--fault-5xx-rate 1.0`` to watch the breaker open.

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator --fault-5xx-rate 1.0 &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/circuit_breaker.py
"""

from __future__ import annotations

import tinkex

CALLS = 8


def main() -> None:
    # max_retries=0: one attempt per call, so each failure is visible here.
    with tinkex.ServiceClient(circuit_breaker=True, max_retries=0) as service:
        for i in range(CALLS):
            try:
                models = service.get_server_capabilities().supported_models
                print(f"call {i}: ok, {len(models)} model(s)")
            except tinkex.CircuitOpenError as exc:
                print(f"call {i}: failed fast, breaker {exc.breaker} is open "
                      f"(trial call in {exc.retry_after:.0f} s)")
            except tinkex.InternalServerError as exc:
                print(f"call {i}: server error {exc.status_code}")
        stats = service.metrics()["get_server_capabilities"]
        fast = stats.failures.get("circuit_open", 0)
        print(f"{stats.calls} calls: {stats.successes} ok, {fast} failed fast, "
              f"{stats.failure_count - fast} reached the server and failed")


if __name__ == "__main__":
    main()
