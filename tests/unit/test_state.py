"""The single state-transition function, as Synnefo's rules describe it."""
from __future__ import annotations

import pytest

from orchestrator.models import Server
from orchestrator.state import JobReport, api_status, apply_job_report


def server(**kw) -> Server:
    return Server(id=1, user_id="u", name="s", flavor_id=1, image_id=1, operstate=kw.pop("operstate", "BUILD"),
                  backend_time=kw.pop("backend_time", None), build_percentage=0, deleted=False, **kw)


@pytest.mark.parametrize(
    "opcode, operstate, status",
    [
        ("OP_INSTANCE_CREATE", "STARTED", "ACTIVE"),
        ("OP_INSTANCE_STARTUP", "STARTED", "ACTIVE"),
        ("OP_INSTANCE_REBOOT", "STARTED", "ACTIVE"),
        ("OP_INSTANCE_SHUTDOWN", "STOPPED", "STOPPED"),
        ("OP_INSTANCE_REMOVE", "DESTROYED", "DELETED"),
    ],
)
def test_success_moves_operstate_by_opcode(opcode, operstate, status):
    s = server()
    assert apply_job_report(s, JobReport(7, opcode, "success", 100.0))
    assert (s.operstate, api_status(s), s.backend_time, s.backend_job_id) == (operstate, status, 100.0, 7)


def test_non_final_status_records_the_job_only():
    s = server()
    apply_job_report(s, JobReport(3, "OP_INSTANCE_CREATE", "running", 50.0, log_msg="copying"))
    assert (s.operstate, s.backend_job_status, s.backend_log_msg, s.backend_time) == ("BUILD", "running", "copying", None)


def test_failed_create_is_error():
    s = server()
    apply_job_report(s, JobReport(3, "OP_INSTANCE_CREATE", "error", 50.0, log_msg="OpPrereqError: exists"))
    assert (s.operstate, api_status(s), s.backend_log_msg) == ("ERROR", "ERROR", "OpPrereqError: exists")


def test_older_report_is_ignored():
    s = server(operstate="DESTROYED", backend_time=200.0)
    assert not apply_job_report(s, JobReport(2, "OP_INSTANCE_STARTUP", "success", 150.0))
    assert s.operstate == "DESTROYED"


def test_error_does_not_advance_backend_time():
    s = server(operstate="STARTED", backend_time=100.0)
    apply_job_report(s, JobReport(9, "OP_INSTANCE_SHUTDOWN", "error", 300.0))
    assert (s.operstate, s.backend_time) == ("STARTED", 100.0)


def test_remove_of_unknown_instance_destroys():
    s = server(operstate="STARTED")
    apply_job_report(s, JobReport(9, "OP_INSTANCE_REMOVE", "error", 300.0, ecode="unknown_entity"))
    assert s.operstate == "DESTROYED" and s.deleted


def test_resize_does_not_hide_an_earlier_shutdown_reported_late():
    s = server(operstate="STARTED", backend_time=100.0)
    apply_job_report(s, JobReport(11, "OP_INSTANCE_SET_PARAMS", "success", 300.0, extra={"flavor_id": 2}))
    apply_job_report(s, JobReport(10, "OP_INSTANCE_SHUTDOWN", "success", 200.0))
    assert (s.operstate, s.flavor_id) == ("STOPPED", 2)


def test_remove_of_unknown_instance_is_not_undone_by_an_older_report():
    s = server(operstate="STARTED", backend_time=100.0)
    apply_job_report(s, JobReport(12, "OP_INSTANCE_REMOVE", "error", 300.0, ecode="unknown_entity"))
    assert not apply_job_report(s, JobReport(11, "OP_INSTANCE_STARTUP", "success", 200.0))
    assert s.operstate == "DESTROYED"
