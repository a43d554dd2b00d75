"""OpenTelemetry tracing: every call is a client span, and the trace travels to the server.

``ServiceClient(tracing=True)`` (or ``TINKER_OTEL=1``) turns it on; it needs the
optional ``opentelemetry-api`` package, and an OpenTelemetry SDK to collect the
spans (here ``opentelemetry-sdk`` with an in-memory exporter; in production,
your OTLP exporter). Each request carries a W3C ``traceparent``, so the
server's logs join your trace (the emulator logs it with ``--log-level info``).

Run it against the local emulator::

    python -m tinkex.emulator --port 8000 --data-dir /tmp/tinkex-emulator --log-level info &
    export TINKER_BASE_URL=http://127.0.0.1:8000 TINKER_API_KEY=tml-local
    python examples/opentelemetry_tracing.py
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tinkex
from tinkex import types

BASE_MODEL = os.environ.get("TINKER_BASE_MODEL", "tinkex/tiny-lm")


def main() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    with trace.get_tracer("my-app").start_as_current_span("sample a greeting") as job, \
            tinkex.ServiceClient(tracing=True) as service:
        sampler = service.create_sampling_client(base_model=BASE_MODEL)
        prompt = types.ModelInput.from_ints(sampler.get_tokenizer().encode("Hi"))
        sampler.sample(prompt, 1, types.SamplingParams(max_tokens=4)).result()

    trace_id = job.get_span_context().trace_id
    spans = [s for s in exporter.get_finished_spans() if s.kind == trace.SpanKind.CLIENT]
    mine = 0
    for span in spans:
        attributes = span.attributes or {}
        in_job = span.context is not None and span.context.trace_id == trace_id
        mine += in_job
        print(f"{span.name:26s} {attributes.get('http.request.method')} "
              f"{attributes.get('http.response.status_code')} "
              f"{'in the job trace' if in_job else 'background (own trace)'}")
    # Calls made on this thread join the job's trace; polls of futures and housekeeping
    # (heartbeat, telemetry) run on the client's threads and start traces of their own.
    print(f"{mine} of {len(spans)} client spans in trace {trace_id:032x}")


if __name__ == "__main__":
    main()
