"""NOT_GIVEN and an explicit None through the low-level API, against a real emulator process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import tinkex
from tinkex import NOT_GIVEN
from tinkex.emulator.run.process import EmulatorProcess

KEY = "tml-not-given-key"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tinkex.ServiceClient]:
    with EmulatorProcess(Path(tmp_path_factory.mktemp("emu"))) as emu, \
            tinkex.ServiceClient(base_url=emu.base_url, api_key=KEY) as client:
        yield client


def test_not_given_none_and_values_reach_the_server_as_the_schema_says(service):
    api = service.api
    # user_metadata may be null: sent as null; project_id not given: left out
    created = api.session.create(sdk_version="0.38.0", user_metadata=None,
                                 display_name="options", project_id=NOT_GIVEN,
                                 tags=NOT_GIVEN, timeout=10)
    # access_scope not given: the manifest's default ("owned") is sent
    session = api.rest.get_session(session_id=created.session_id, access_scope=NOT_GIVEN)
    assert session.display_name == "options" and not session.user_metadata
    listed = api.rest.list_sessions(limit=NOT_GIVEN, offset=None)  # None: no value, not sent
    assert created.session_id in listed.sessions
    with pytest.raises(TypeError, match="missing required keyword argument.*session_id"):
        api.rest.get_session(session_id=NOT_GIVEN)
