"""The operator console in a real browser: what the operator sees and the buttons they press,
on the real stack (workers, broker, simulated clusters over HTTP)."""
from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from tests.integration.helpers import active_server, failed_create, user_headers, wait_operation
from tests.reconciliation.helpers import age, cluster_of, run_cli, sim

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]

ADMIN_TOKEN = "test-admin-token"


def wait(driver, timeout: float = 30):
    return WebDriverWait(driver, timeout, poll_frequency=0.2)


def sign_in(driver, url: str, token: str = ADMIN_TOKEN) -> None:
    driver.get(f"{url}/login")
    box = driver.find_element(By.ID, "token")
    box.clear()
    box.send_keys(token)
    driver.find_element(By.ID, "sign-in").click()


def signed_in(driver, url: str) -> None:
    sign_in(driver, url)
    wait(driver).until(EC.presence_of_element_located((By.ID, "sign-out")))


def text_in(driver, locator, text: str, timeout: float = 30) -> None:
    wait(driver, timeout).until(EC.text_to_be_present_in_element(locator, text))


def task_id_of(stack, op_id: int) -> str:
    """The Celery task id of the step the operation is at, as its dispatch derived it."""
    from orchestrator.dispatch import task_ids
    from orchestrator.models import Operation

    with stack.session() as session:
        op = session.get(Operation, op_id)
        return task_ids(op.id, op.generation)["finalize" if op.step == "done" else op.step]


def flash(driver) -> str:
    """The answer to the button just pressed (console.js empties the box on every press)."""
    return wait(driver).until(lambda d: (lambda box: box.is_displayed() and box.text)(d.find_element(By.ID, "flash")))


def test_sign_in_see_a_failed_create_retry_it_and_watch_it_succeed(stack, fresh, console_url):
    driver = fresh
    driver.get(f"{console_url}/")
    assert "/console/login" in driver.current_url  # signed out: the sign-in page

    created, failed = failed_create(stack, "console-retry")
    op_id = failed["id"]
    signed_in(driver, console_url)
    assert driver.find_element(By.TAG_NAME, "h1").text == "Needs attention"
    row = (By.ID, f"op-{op_id}")
    text_in(driver, row, "FAILED")
    shown = driver.find_element(*row).text
    assert "create" in shown and f"server {created['id']}" in shown and str(failed["attempts"]) in shown
    assert failed["error"][:30] in shown  # the last error, as Ganeti gave it
    # Flower's page of the task that ran the step the operation failed at: the id the
    # dispatcher fixed for it, which the worker ran (its log names it).
    flower = driver.find_element(*row).find_element(By.LINK_TEXT, "Flower").get_attribute("href")
    task_id = task_id_of(stack, op_id)
    assert flower == f"{stack.ctx.settings.flower_url}/task/{task_id}"
    assert f"[{task_id}]" in stack.worker.log_path.read_text()
    assert driver.find_element(By.ID, "ops-chart").get_attribute("aria-label") == \
        "operations per minute by outcome"

    driver.find_element(*row).find_element(By.CSS_SELECTOR, "button.retry").click()
    assert f"operation {op_id} retried" in flash(driver)
    text_in(driver, (By.CSS_SELECTOR, f"#op-{op_id} .status"), "SUCCEEDED", timeout=60)  # no reload
    assert wait_operation(stack, op_id)["status"] == "SUCCEEDED"

    # The second click gets what a second API call gets: 409, shown as a message.
    driver.find_element(*row).find_element(By.CSS_SELECTOR, "button.retry").click()
    text_in(driver, (By.ID, "flash"), "FAILED")
    assert "error" in driver.find_element(By.ID, "flash").get_attribute("class")
    api = stack.client.post(f"/api/v1/operations/{op_id}/retry", headers=stack.admin_headers)
    assert api.status_code == 409 and api.json["message"] in driver.find_element(By.ID, "flash").text

    driver.find_element(*row).find_element(By.CSS_SELECTOR, "button.cancel").click()
    text_in(driver, (By.ID, "flash"), "only operations in flight can be canceled")

    # Retry-all for a filter: every FAILED create on one backend.
    _c2, second = failed_create(stack, "console-retry-all")
    driver.get(f"{console_url}/?kind=create&backend_id={second['backend_id'] or ''}")
    text_in(driver, (By.ID, f"op-{second['id']}"), "FAILED")
    driver.find_element(By.ID, "retry-all").click()
    assert "1 operation(s) retried" in flash(driver)
    assert wait_operation(stack, second["id"], timeout=60)["status"] == "SUCCEEDED"

    driver.find_element(By.ID, "sign-out").click()
    wait(driver).until(EC.url_contains("/console/login"))
    driver.get(f"{console_url}/")
    assert "/console/login" in driver.current_url


def test_drain_a_backend_and_the_allocator_skips_it(stack, fresh, console_url):
    driver = fresh
    signed_in(driver, console_url)
    driver.find_element(By.ID, "nav-backends").click()
    first, second = (b["id"] for b in stack.client.get("/api/v1/backends", headers=stack.admin_headers).json[:2])
    row = (By.ID, f"backend-{first}")
    text_in(driver, row, "in service")
    assert "free of" in driver.find_element(*row).text  # the capacity bars' figures

    driver.find_element(*row).find_element(By.CSS_SELECTOR, "button.drain").click()
    assert "drained" in flash(driver)
    wait(driver).until(EC.visibility_of_element_located((By.CSS_SELECTOR, f"#backend-{first} .flag.drained")))
    try:
        for n in range(2):
            server = active_server(stack, name=f"console-drained-{n}")
            assert server["backend_id"] == second, server
        driver.find_element(*row).find_element(By.CSS_SELECTOR, "button.refresh").click()
        assert "refreshed" in flash(driver)
        assert driver.find_element(By.CSS_SELECTOR, f"#backend-{first} .refreshed").text != "never"
    finally:
        driver.find_element(*row).find_element(By.CSS_SELECTOR, "button.undrain").click()
        assert "undrained" in flash(driver)
    wait(driver).until(EC.visibility_of_element_located((By.CSS_SELECTOR, f"#backend-{first} .flag.online")))
    assert stack.client.get(f"/api/v1/backends/{first}", headers=stack.admin_headers).json["drained"] is False


def test_apply_a_reconciliation_fix_from_a_finding(stack, fresh, console_url):
    driver = fresh
    server = active_server(stack, name="console-crashed")
    cluster = cluster_of(stack, server["backend_id"])
    assert sim(cluster, "POST", f"/sim/instances/snf-{server['id']}/crash").json()["status"] == "ERROR_down"
    age(stack, [server["id"]])
    detect = run_cli("reconcile", "servers")
    assert detect.exit_code == 0, detect.output

    signed_in(driver, console_url)
    driver.find_element(By.ID, "nav-reconciliation").click()
    finding = wait(driver).until(EC.presence_of_element_located(
        (By.XPATH, f"//table[@id='findings']//tr[td[4][normalize-space()='{server['id']}']]")))
    assert "state" in finding.text and "no" in finding.find_element(By.CSS_SELECTOR, ".fixed").text
    finding.find_element(By.CSS_SELECTOR, "button.fix").click()
    assert f"finding {finding.get_attribute('id').split('-')[1]} fixed in run" in flash(driver)
    assert stack.server(server["id"])["status"] == "STOPPED"
    driver.get(f"{console_url}/reconciliation")  # the new run, newest first, with its fix
    latest = driver.find_element(By.CSS_SELECTOR, "#runs tbody tr")
    assert "console" in latest.text and "state: 1 (1)" in latest.text


def test_a_non_administrator_a_forged_form_and_an_expired_session_are_refused(stack, fresh, console_url):
    driver = fresh
    user = user_headers(stack, "console-user")["Authorization"].split()[1]
    sign_in(driver, console_url, user)
    text_in(driver, (By.ID, "login-message"), "administrators only")
    driver.get(f"{console_url}/")
    assert "/console/login" in driver.current_url
    sign_in(driver, console_url, "not-a-token")
    text_in(driver, (By.ID, "login-message"), "invalid or revoked token")

    # A sign-in form posted from elsewhere (no form token of ours) signs nobody in.
    driver.execute_script("""
        var f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];
        var t = document.createElement('input'); t.type = 'hidden'; t.name = 'token'; t.value = arguments[1];
        f.appendChild(t); document.body.appendChild(f); f.submit();""", f"{console_url}/login", ADMIN_TOKEN)
    text_in(driver, (By.ID, "login-message"), "stale or forged")
    driver.get(f"{console_url}/")
    assert "/console/login" in driver.current_url

    # A forged form (signed in, but without the session's CSRF token) is a 403 page.
    _created, failed = failed_create(stack, "console-forged")
    signed_in(driver, console_url)
    driver.execute_script("""
        var f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];
        var t = document.createElement('input'); t.type = 'hidden'; t.name = 'csrf_token'; t.value = 'forged';
        f.appendChild(t); document.body.appendChild(f); f.submit();""",
        f"{console_url}/operations/{failed['id']}/retry")
    text_in(driver, (By.ID, "error-message"), "CSRF token is missing or wrong")
    assert driver.find_element(By.TAG_NAME, "h1").text == "403"
    assert "Traceback" not in driver.page_source
    assert stack.client.get(f"/api/v1/operations/{failed['id']}", headers=stack.admin_headers).json["status"] \
        == "FAILED"

    # An expired session: the button says so, and the page goes back to the sign-in form.
    stack.app.config["CONSOLE_SESSION_TTL_S"] = 1
    try:
        signed_in(driver, console_url)
        time.sleep(1.5)
        driver.find_element(By.CSS_SELECTOR, f"#op-{failed['id']} button.retry").click()
        assert "session has expired" in flash(driver)
        driver.get(f"{console_url}/")
        assert "/console/login" in driver.current_url
    finally:
        stack.app.config["CONSOLE_SESSION_TTL_S"] = 8 * 3600
    assert stack.client.get(f"/api/v1/operations/{failed['id']}", headers=stack.admin_headers).json["status"] \
        == "FAILED"


def test_servers_search_and_a_servers_page(stack, fresh, console_url):
    driver = fresh
    server = active_server(stack, name="console-findme")
    signed_in(driver, console_url)
    driver.find_element(By.ID, "nav-servers").click()
    box = driver.find_element(By.ID, "search-q")
    box.send_keys("console-find")
    driver.find_element(By.ID, "search").click()
    wait(driver).until(EC.url_contains("q=console-find"))
    row = wait(driver).until(EC.presence_of_element_located((By.ID, f"server-{server['id']}")))
    assert "console-findme" in row.text and "ACTIVE" in row.text
    row.find_element(By.LINK_TEXT, str(server["id"])).click()
    text_in(driver, (By.ID, "live-status"), "ACTIVE")
    assert "create" in driver.find_element(By.ID, "server-ops").text
    driver.find_element(By.CSS_SELECTOR, "button.act[data-action='shutdown']").click()
    assert "shutdown: operation" in flash(driver)
    text_in(driver, (By.ID, "live-status"), "STOPPED", timeout=60)  # the live state, no reload
