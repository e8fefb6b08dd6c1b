"""The console's charts, one finding's fix, a drain's reason and the server page's stream, in
a real browser on the real stack (workers, broker, simulated clusters, the streams process)."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

from tests.browser.test_console import flash, signed_in, text_in, wait
from tests.harness.http import served, streams_process
from tests.integration.helpers import active_server, failed_create, wait_operation
from tests.reconciliation.helpers import age, cli_run_id, cluster_of, run_cli, sim

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]



def _ended_per_outcome(stack, since: dt.datetime) -> dict[str, int]:
    from sqlalchemy import func, select

    from orchestrator.models import Operation

    with stack.session() as session:
        return dict(session.execute(select(Operation.status, func.count()).where(
            Operation.finished_at >= since, Operation.status.in_(("SUCCEEDED", "FAILED")))
            .group_by(Operation.status)).all())


def _chart_totals(driver) -> dict[str, int]:
    text = driver.find_element(By.ID, "ops-chart").text + " " + " ".join(
        t.get_attribute("textContent") for t in driver.find_elements(By.CSS_SELECTOR, "#ops-chart > text"))
    return {"SUCCEEDED": int(re.search(r"succeeded (\d+)", text).group(1)),
            "FAILED": int(re.search(r"failed (\d+)", text).group(1))}


def test_the_chart_counts_the_operations_that_ended_from_the_rollup(stack, fresh, console_url):
    from sqlalchemy import delete, func, select

    from orchestrator.models import OperationMinute, RollupMark, utcnow
    from orchestrator.services import console

    driver = fresh
    wait_operation(stack, active_server(stack, name="chart-ok")["operation"]["id"])  # ended, not only ACTIVE
    failed_create(stack, "chart-failed")
    start = utcnow().replace(second=0, microsecond=0) + dt.timedelta(minutes=1) - dt.timedelta(hours=3)
    try:
        # The beat's fold, as it runs two minutes from now: every minute up to this one is
        # then in the rollup, so the page below reads the rollup alone.
        with stack.session() as session:
            folded = console.fold_minutes(stack.ctx, session, now=utcnow() + dt.timedelta(minutes=2))
        assert folded >= 180
        expected = _ended_per_outcome(stack, start)
        assert expected.get("SUCCEEDED") and expected.get("FAILED")
        with stack.session() as session:
            rolled = dict(session.execute(select(OperationMinute.outcome, func.sum(OperationMinute.count))
                                          .where(OperationMinute.minute >= start)
                                          .group_by(OperationMinute.outcome)).all())
        assert rolled == expected

        signed_in(driver, console_url)
        assert _chart_totals(driver) == {"SUCCEEDED": expected["SUCCEEDED"], "FAILED": expected["FAILED"]}
        titles = [t.get_attribute("textContent") for t in
                  driver.find_elements(By.CSS_SELECTOR, "#ops-chart rect.bar title")]
        per_bar = {"SUCCEEDED": 0, "FAILED": 0}
        for title in titles:
            outcome, count = re.match(r"\d\d:\d\d (SUCCEEDED|FAILED): (\d+)", title).groups()
            per_bar[outcome] += int(count)
        assert per_bar == _chart_totals(driver)

        # A second fold of the same minutes (a re-run) writes the same counts.
        with stack.session() as session:
            console.fold_minutes(stack.ctx, session, now=utcnow() + dt.timedelta(minutes=2))
            again = dict(session.execute(select(OperationMinute.outcome, func.sum(OperationMinute.count))
                                         .where(OperationMinute.minute >= start)
                                         .group_by(OperationMinute.outcome)).all())
        assert again == expected
    finally:  # the rollup as a fresh deployment has it: the next fold starts from the window
        with stack.session() as session:
            session.execute(delete(OperationMinute))
            session.execute(delete(RollupMark))
            session.commit()

    # The beat's own task, on the worker: the minutes closed a minute ago, folded; the chart
    # still shows every operation (those since the fold counted live).
    result = stack.celery.send_task("orchestrator.periodic.fold_operation_minutes").get(timeout=60)
    assert result >= 175
    wait_operation(stack, active_server(stack, name="chart-after-fold")["operation"]["id"])  # ended, not only ACTIVE
    driver.get(f"{console_url}/")
    expected = _ended_per_outcome(stack, start)
    assert _chart_totals(driver) == {"SUCCEEDED": expected["SUCCEEDED"], "FAILED": expected["FAILED"]}


def test_the_queue_lengths_chart(stack, fresh, console_url):
    # The beat's sampling, on the worker: a passive queue_declare per queue on the broker.
    lengths = stack.celery.send_task("orchestrator.periodic.sample_queues").get(timeout=60)
    assert set(lengths) == {"provisioning", "polling", "events", "periodic"}
    stack.celery.send_task("orchestrator.periodic.sample_queues").get(timeout=60)

    driver = fresh
    signed_in(driver, console_url)
    chart = driver.find_element(By.ID, "queue-history")
    assert chart.get_attribute("aria-label") == "queue lengths over time"
    shown = {g.get_attribute("data-queue") for g in chart.find_elements(By.CSS_SELECTOR, "g.queue")}
    assert shown == set(lengths)
    points = [c.get_attribute("textContent") for c in chart.find_elements(By.CSS_SELECTOR, "g.queue circle title")]
    assert len(points) >= 8 and all(re.match(r"\d\d:\d\d (provisioning|polling|events|periodic): \d+$", p)
                                     for p in points)
    legend = " ".join(t.get_attribute("textContent") for t in chart.find_elements(By.CSS_SELECTOR, "text.legend"))
    assert "provisioning" in legend and "periodic" in legend


def test_fixing_one_finding_fixes_only_that_one(stack, fresh, console_url):
    first = active_server(stack, name="one-fix-a")
    backend_id = first["backend_id"]
    second = active_server(stack, name="one-fix-b", backend_id=backend_id, headers=stack.admin_headers)
    assert second["backend_id"] == backend_id
    cluster = cluster_of(stack, backend_id)
    for server in (first, second):
        assert sim(cluster, "POST", f"/sim/instances/snf-{server['id']}/crash").json()["status"] == "ERROR_down"
    age(stack, [first["id"], second["id"]])
    detect = run_cli("reconcile", "servers", "--backend", str(backend_id))
    assert detect.exit_code == 0, detect.output

    driver = fresh
    signed_in(driver, console_url)
    driver.find_element(By.ID, "nav-reconciliation").click()

    def finding_of(server_id: int):
        return wait(driver).until(EC.presence_of_element_located(
            (By.XPATH, f"//table[@id='findings']//tr[td[4][normalize-space()='{server_id}']]")))

    mine, other = finding_of(first["id"]), finding_of(second["id"])
    assert "state" in mine.text and "state" in other.text
    finding_id = mine.get_attribute("id").split("-")[1]
    mine.find_element(By.CSS_SELECTOR, "button.fix").click()
    assert f"finding {finding_id} fixed in run" in flash(driver)
    text_in(driver, (By.CSS_SELECTOR, f"#finding-{finding_id} .fixed"), "fixed in run")
    assert stack.server(first["id"])["status"] == "STOPPED"
    assert stack.server(second["id"])["status"] == "ACTIVE"  # the other finding: left as it was
    driver.get(f"{console_url}/reconciliation?run={cli_run_id(detect.output)}")  # the run that found both
    assert finding_of(second["id"]).find_element(By.CSS_SELECTOR, ".fixed").text == "no"
    assert "yes: in run" in finding_of(first["id"]).find_element(By.CSS_SELECTOR, ".fixed").text
    # Pressed again: the finding is fixed already, a 409 shown as a message.
    driver.execute_script("""
        fetch(arguments[0], {method: 'POST', credentials: 'same-origin', headers: {
          'X-CSRF-Token': document.querySelector('meta[name="csrf-token"]').content,
          'X-Requested-With': 'fetch', 'Accept': 'application/json'}})
        .then(r => r.json()).then(d => { document.body.dataset.answer = d.status + ' ' + d.message; });""",
                          f"{console_url}/reconciliation/findings/{finding_id}/fix")
    answer = wait(driver).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-answer"))
    assert answer.startswith("409 ") and "already fixed" in answer


def test_a_drain_with_a_reason_shows_the_reason(stack, fresh, console_url):
    driver = fresh
    signed_in(driver, console_url)
    driver.find_element(By.ID, "nav-backends").click()
    first = stack.client.get("/api/v1/backends", headers=stack.admin_headers).json[0]["id"]
    row = (By.ID, f"backend-{first}")
    try:
        driver.find_element(*row).find_element(By.CSS_SELECTOR, "input.reason").send_keys("disk swap, ticket 42")
        driver.find_element(*row).find_element(By.CSS_SELECTOR, "button.drain").click()
        assert "drained: disk swap, ticket 42" in flash(driver)
        text_in(driver, (By.CSS_SELECTOR, f"#backend-{first} .drained-reason"), "disk swap, ticket 42")
        api = stack.client.get(f"/api/v1/backends/{first}", headers=stack.admin_headers).json
        assert api["drained"] is True and api["drained_reason"] == "disk swap, ticket 42"
        driver.refresh()  # read back from the database
        text_in(driver, (By.CSS_SELECTOR, f"#backend-{first} .drained-reason"), "disk swap, ticket 42")
        # The CLI sets another; the API refuses a reason on an undrain, naming the field.
        changed = run_cli("backend", "modify", str(first), "--drained", "--reason", "rack 7 power")
        assert changed.exit_code == 0 and "rack 7 power" in changed.output, changed.output
        driver.refresh()
        text_in(driver, (By.CSS_SELECTOR, f"#backend-{first} .drained-reason"), "rack 7 power")
        bad = stack.client.patch(f"/api/v1/backends/{first}", headers=stack.admin_headers,
                                 json={"drained": False, "drained_reason": "x"})
        assert bad.status_code == 422 and "drained_reason" in bad.get_data(as_text=True)
    finally:
        driver.find_element(*row).find_element(By.CSS_SELECTOR, "button.undrain").click()
        assert "undrained" in flash(driver)
    api = stack.client.get(f"/api/v1/backends/{first}", headers=stack.admin_headers).json
    assert api["drained"] is False and api["drained_reason"] is None
    assert driver.find_element(By.CSS_SELECTOR, f"#backend-{first} .drained-reason").text == ""


@pytest.fixture
def streams_console(stack):
    """The streams process on the stack's settings, and a console (its own web app on the
    stack's database and broker) configured with its STREAMS_URL: (console URL, streams URL)."""
    from api.app import create_app
    from orchestrator.services.context import Context

    with streams_process(stack, STREAM_RECHECK_S="30") as streams_url:
        settings = stack.ctx.settings.replace(streams_url=streams_url)
        app = create_app(settings, Context(settings, stack.ctx.dispatcher))
        with served(app, "console-streams-http") as url:
            yield f"{url}/console", streams_url


def test_the_server_page_follows_the_stream_without_re_reading(stack, fresh, streams_console):
    console_url, streams_url = streams_console
    server = active_server(stack, name="console-streamed")
    other = active_server(stack, name="console-not-this-one")
    driver = fresh
    signed_in(driver, console_url)
    driver.get(f"{console_url}/servers/{server['id']}")
    text_in(driver, (By.ID, "live-via"), "stream")
    text_in(driver, (By.ID, "live-status"), "ACTIVE")
    driver.find_element(By.CSS_SELECTOR, "button.act[data-action='shutdown']").click()
    assert "shutdown: operation" in flash(driver)
    text_in(driver, (By.ID, "live-status"), "STOPPED", timeout=60)  # pushed by the stream
    requested = driver.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; });")
    assert not [u for u in requested if u.endswith(f"/servers/{server['id']}/state")], requested
    assert f"/servers/{server['id']}/stream-ticket" in " ".join(requested)
    assert requests.get(f"{streams_url}/healthz", timeout=5).json()["streams"] >= 1  # the page's stream

    # A ticket (as the page gets one) opens that server's stream only, for a minute; a
    # forged one opens nothing.
    driver.execute_script("""
        fetch(arguments[0], {method: 'POST', credentials: 'same-origin', headers: {
          'X-CSRF-Token': document.querySelector('meta[name="csrf-token"]').content,
          'X-Requested-With': 'fetch', 'Accept': 'application/json'}})
        .then(r => r.json()).then(d => { document.body.dataset.stream = d.url; });""",
                          f"{console_url}/servers/{server['id']}/stream-ticket")
    url = wait(driver).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-stream"))
    assert url.startswith(f"{streams_url}/api/v1/servers/{server['id']}/events?until=deleted&ticket=")
    ticket = re.search(r"ticket=([^&]+)", url).group(1)
    own = requests.get(f"{streams_url}/api/v1/servers/{server['id']}/events?ticket={ticket}", stream=True,
                       timeout=(5, 10))
    assert own.status_code == 200 and own.headers["Access-Control-Allow-Origin"] == "*"
    own.close()
    for url in (f"{streams_url}/api/v1/servers/{other['id']}/events?ticket={ticket}",
                f"{streams_url}/api/v1/servers/{server['id']}/events?ticket={ticket[:-2]}xx"):
        refused = requests.get(url, timeout=10)
        assert refused.status_code == 401 and "stream ticket" in refused.json()["message"]
