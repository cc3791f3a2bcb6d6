"""One contract, enforced twice: every request rule of `humelab.contract` is refused
by the service (HTTP 400) and by the client's preflight (before anything is sent)."""

from __future__ import annotations

import pytest

import humelab
from humelab import contract

VIOLATIONS = list(contract.violations())


def _with_input(request: dict) -> dict:
    # A request needs something to measure; the rule under test is elsewhere.
    if "urls" in request or "text" in request:
        return request
    return {**request, "text": ["A calm sentence."]}


def test_every_option_is_covered():
    # Each option of the table is broken at least once (and each kind handled)
    described = " ".join(rule for rule, _ in VIOLATIONS)
    for option in contract.OPTIONS:
        assert option.field in described


@pytest.mark.parametrize(
    "request_", [r for _, r in VIOLATIONS], ids=[r for r, _ in VIOLATIONS]
)
def test_service_refuses(api, request_):
    r = api.post(json=_with_input(request_))
    assert r.status_code == 400, r.text
    assert r.json()["message"]


@pytest.mark.parametrize(
    "request_", [r for _, r in VIOLATIONS], ids=[r for r, _ in VIOLATIONS]
)
def test_client_preflight_refuses_before_sending(tmp_path, request_):
    # Given a client whose service address answers nothing (port 9: refused)
    with humelab.Client(
        "http://127.0.0.1:9", "k", data_dir=tmp_path, max_retries=0
    ) as client:
        # Then the rule is enforced locally: InputError, never an APIError
        with pytest.raises(humelab.InputError):
            client.submit(**_with_input(request_))


def test_defaults_come_from_the_option_table():
    filled = contract.fill_model_defaults({"face": {}})["face"]
    assert filled == {o.name: o.default for o in contract.OPTIONS if o.model == "face"}


def test_job_states():
    assert [s.value for s in humelab.JobStatus] == list(contract.STATUSES)
    assert {s for s in contract.STATUSES if humelab.JobStatus(s).is_terminal} == set(
        contract.TERMINAL
    )
