"""Property-based fuzzing of every endpoint from the service's own OpenAPI description.

schemathesis generates requests from ``/openapi.json`` (as served by the running
service, so the description is checked against the real app): valid ones and,
separately, ones that break the schema. Every answer must be no 5xx, within 10 s,
with the status codes, content types and bodies the description promises; every
job the fuzzer created must reach a final state.
"""

from __future__ import annotations

import time

import pytest
import requests

import humelab
from tests.torture._harness import KEY, Raw, record, scaled

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

#: Examples per operation and generation mode in the bounded run.
EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    with humelab.serve(
        data_dir=tmp_path_factory.mktemp("fuzz"),
        api_key=KEY,
        quiet=True,
        workers=2,
        fetch_timeout=2,
        fetch_total_timeout=5,
        max_file_bytes=2_000_000,
    ) as server:
        yield server


def test_openapi_served_is_the_packaged_description(fuzzed):
    import json
    from pathlib import Path

    served = requests.get(fuzzed.url + "/openapi.json", timeout=10).json()
    packaged = Path(humelab.service.__file__).with_name("openapi.json")
    assert served == json.loads(packaged.read_text(encoding="utf-8"))
    paths = {(m.upper(), p) for p, ops in served["paths"].items() for m in ops}
    routes = {(m, r.path) for r in fuzzed.app.routes for m in r.methods if m != "HEAD"}
    assert paths == routes, "the description and the app's routes differ"


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzz_every_endpoint(fuzzed, mode):
    schema = schemathesis.openapi.from_url(fuzzed.url + "/openapi.json")
    api = Raw(fuzzed.url)
    session = requests.Session()
    session.headers["X-Hume-Api-Key"] = KEY
    sent, server_errors, slow, created = 0, 0, 0, []
    n = scaled(EXAMPLES)
    try:
        for result in schema.get_all_operations():
            op = result.ok()

            @settings(
                max_examples=n,
                deadline=None,
                database=None,
                derandomize=False,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=op.as_strategy(generation_mode=mode))
            def run(case):
                nonlocal sent, server_errors, slow
                t0 = time.monotonic()
                resp = case.call(base_url=fuzzed.url, session=session, timeout=10)
                took = time.monotonic() - t0
                sent += 1
                server_errors += resp.status_code >= 500
                slow += took > 10
                if resp.status_code == 200 and case.method == "POST":
                    created.append(resp.json()["job_id"])
                checks = CHECKS if mode == GenerationMode.POSITIVE else CHECKS[:1]
                case.validate_response(resp, checks=checks)

            try:
                run()
            except Unsatisfiable:  # nothing to break (no parameters, no body)
                assert mode == GenerationMode.NEGATIVE, op.path
        # Every job the fuzzer managed to create ends.
        api.wait_all(created, timeout=120)
    finally:
        record(
            "fuzz",
            mode=mode.value,
            requests_fuzzed=sent,
            server_errors=server_errors,
            slow=slow,
            jobs_created=len(created),
        )
        session.close()
        api.close()
    assert server_errors == 0 and slow == 0
    assert sent >= 7
