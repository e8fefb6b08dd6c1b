"""OPERATION_DEADLINE_S: one figure for every kind, or figures per kind; bad text is an
error at startup that names the variable and what was wrong."""
from __future__ import annotations

import pytest

from orchestrator.actions import ACTIONS
from orchestrator.settings import DEFAULT_OPERATION_DEADLINES, Settings


def test_every_kind_of_operation_that_sends_a_job_has_a_default_deadline():
    assert set(ACTIONS) <= set(DEFAULT_OPERATION_DEADLINES)
    assert Settings().deadline_s("reboot") == DEFAULT_OPERATION_DEADLINES["reboot"]
    assert Settings().deadline_s("import") == DEFAULT_OPERATION_DEADLINES["default"]


def test_one_figure_is_every_kinds_deadline():
    settings = Settings.from_env({"OPERATION_DEADLINE_S": "120"})
    assert {settings.deadline_s(kind) for kind in [*ACTIONS, "suspend"]} == {120.0}


def test_figures_per_kind_leave_the_other_kinds_at_their_default():
    settings = Settings.from_env({"OPERATION_DEADLINE_S": "reboot=2.5, create=7200"})
    assert settings.deadline_s("reboot") == 2.5 and settings.deadline_s("create") == 7200.0
    assert settings.deadline_s("resize") == DEFAULT_OPERATION_DEADLINES["resize"]


@pytest.mark.parametrize("text, says", [
    ("reboot=soon", "OPERATION_DEADLINE_S reboot: 'soon' is not a number of seconds"),
    ("reboot=0", "OPERATION_DEADLINE_S reboot: must be more than 0 seconds"),
    ("reload=30", "expected kind=seconds with a kind among"),
    ("reboot", "expected kind=seconds"),
    ("0", "OPERATION_DEADLINE_S: must be more than 0 seconds"),
])
def test_bad_text_is_refused_naming_what_is_wrong(text, says):
    with pytest.raises(ValueError, match=says.replace("(", r"\(")):
        Settings.from_env({"OPERATION_DEADLINE_S": text})
