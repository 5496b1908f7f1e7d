"""``alligator dashboard`` over real HTTP: every view and action, and the
checks that keep other sites and other people out.

Each test starts the real server (werkzeug, threaded) on a free loopback
port, on queues in sqlite files or on moto's SQS server, and talks to it
with plain HTTP requests.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading

import pytest

from alligator import Gator
from alligator.backends.base import ERROR_ATTRIBUTE, Outgoing
from alligator.cli import main
from alligator.testing import make_queue
from tests import tasks
from tests.dashboard_support import Client, dead_letter, running
from tests.processes import ROOT

TOKEN = "a-long-enough-test-token-0123456789"


@pytest.fixture(autouse=True)
def _no_token(monkeypatch):
    monkeypatch.delenv("ALLIGATOR_DASHBOARD_TOKEN", raising=False)


@pytest.fixture
def dsn(tmp_path):
    return f"sqlite://{tmp_path}/q.db"


@pytest.fixture
def gator(dsn):
    gator = Gator(dsn)
    yield gator
    gator.backend.close()


def listing(client, index=0):
    reply = client.get(f"/api/queues/{index}/dlq")
    assert reply.status == 200, reply.text
    return reply.json()


def message_of(client, task_id, index=0):
    [message] = [m for m in listing(client, index)["messages"] if m["task_id"] == task_id]
    return message["message_id"]


def in_queue(backend):
    """Task ids in a queue, left there. moto's counts are exact, so they
    tell when everything is held (no closing empty long poll)."""
    held = []
    for _ in range(50):
        if not backend.stats().visible:
            break
        held += backend.receive(max_messages=10, wait_seconds=1 if backend.blocking else 0)
    backend.release(held)
    return sorted(json.loads(message.body).get("task_id", "?") for message in held)


# -- the page ------------------------------------------------------------------


def test_the_page_and_its_assets_come_from_the_package(dsn, gator):
    with running([dsn]) as server:
        client = Client(server.url)
        page = client.open_page()
        # The page: HTML, a session cookie for this port, its CSRF token
        assert page.status == 200
        assert page.headers["Content-Type"].startswith("text/html")
        [cookie] = page.headers.get_all("Set-Cookie")
        assert cookie.startswith(f"alligator_dashboard_{server.port}=")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert re.fullmatch(r"[0-9a-f]{64}", client.csrf)
        # Scripts from this server only, no framing, no sniffing
        policy = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        # Nothing is loaded from anywhere else: no CDN, works offline
        assert re.search(r'(src|href)="(https?:)?//', page.text) is None
        style = client.get("/static/dashboard.css")
        assert style.status == 200 and style.headers["Content-Type"].startswith("text/css")
        for name in ("plot.js", "dashboard.js"):
            script = client.get(f"/static/{name}")
            assert script.status == 200 and "javascript" in script.headers["Content-Type"]
            assert f'src="/static/{name}"' in page.text
            code = "\n".join(
                line for line in script.text.splitlines() if not line.strip().startswith("//")
            )
            for dangerous in (
                "innerHTML",
                "outerHTML",
                "insertAdjacent",
                "document.write",
                "eval(",
            ):
                assert dangerous not in code, (name, dangerous)
        assert "http" not in style.text and "@import" not in style.text


def test_stats_of_every_queue_in_order(tmp_path, sqs_endpoint):
    # Given a sqlite queue with one message in each state, and an SQS queue
    local = f"sqlite://{tmp_path}/q.db"
    gator = Gator(local)
    dead_letter(gator, "boom")
    gator.task_many([(tasks.add, (1, 1)), (tasks.add, (2, 2))])
    gator.options(delay_by=600).task(tasks.add, 3, 3)
    gator.task(tasks.add, 4, 4)
    assert gator.backend.receive(max_messages=1, wait_seconds=0)  # in flight
    remote = make_queue(sqs_endpoint)
    Gator(remote).task(tasks.add, 5, 5)
    # When
    with running([local, remote]) as server:
        reply = Client(server.url).get("/api/stats")
    # Then
    assert reply.status == 200
    assert reply.headers["Cache-Control"] == "no-store"
    first, second = reply.json()["queues"]
    assert (first["index"], first["queue"], first["dlq"]) == (0, "all", "all-dlq")
    assert first["label"] == local
    figures = ("visible", "in_flight", "delayed", "dlq_depth")
    assert [first[key] for key in figures] == [2, 1, 1, 1]
    assert first["oldest_age_seconds"] >= 0 and first["error"] is None
    assert second["index"] == 1 and second["label"] == remote.split("?")[0]
    assert [second[key] for key in figures] == [1, 0, 0, 0]
    assert "CloudWatch" in second["oldest_age_note"]
    assert reply.json()["status_store"] is False


def test_the_dlq_listing_shows_every_reason_as_text(dsn, gator):
    # Given dead tasks whose reasons are markup and control characters
    task_ids = dead_letter(gator, "<img src=x onerror=alert(1)>", "line\rover\x1b[2J")
    gator.backend.dlq_backend().send_many(
        [Outgoing("[" * 100_000, attributes={ERROR_ATTRIBUTE: "PoisonMessageError: deep"})]
    )
    # When listed
    with running([dsn]) as server:
        dead = listing(Client(server.url))
    # Then each message has its task, callable, reason, attempts and time
    assert (dead["dlq"], dead["depth"], dead["error"]) == ("all-dlq", 3, None)
    first, second, poison = dead["messages"]
    assert first["task_id"] == task_ids[0] and first["callable"] == "tests.tasks.fail"
    assert first["error"] == "RuntimeError: <img src=x onerror=alert(1)>"  # text for textContent
    assert (first["attempts"], first["poison"]) == (1, False)
    assert first["failed_at"].endswith("Z")
    assert second["error"] == "RuntimeError: line\\rover\\x1b[2J"  # escaped, visible
    assert (poison["task_id"], poison["poison"]) == (None, True)


def test_an_unknown_queue_is_404(dsn, gator):
    with running([dsn]) as server:
        client = Client(server.url)
        client.open_page()
        assert client.get("/api/queues/1/dlq").status == 404
        reply = client.post("/api/queues/7/redrive", {"all": True})
        assert (reply.status, reply.json()) == (404, {"error": "no queue number 7"})
        assert client.get("/no/such/page").status == 404


# -- actions -------------------------------------------------------------------


def test_redrive_one_message_on_sqs(sqs_endpoint):
    # Given three dead tasks on SQS
    dsn = make_queue(sqs_endpoint)
    gator = Gator(dsn)
    task_ids = dead_letter(gator, "a", "b", "c")
    with running([dsn]) as server:
        client = Client(server.url)
        client.open_page()
        target = message_of(client, task_ids[1])
        # When the page redrives one of them
        reply = client.post("/api/queues/0/redrive", {"message_id": target})
        # Then it is back in the queue, and only it
        assert reply.status == 200, reply.text
        assert reply.json() == {
            "done": True,
            "message": f"redrove the message to {dsn_name(dsn)!r}",
        }
        assert in_queue(gator.backend) == [task_ids[1]]
        left = {m["task_id"] for m in listing(client)["messages"]}
        assert left == {task_ids[0], task_ids[2]}
        # ...and a second redrive of it finds nothing and changes nothing
        again = client.post("/api/queues/0/redrive", {"message_id": target})
        assert (again.status, again.json()["done"]) == (404, False)
        assert "no longer in the dead-letter queue" in again.json()["message"]
        assert in_queue(gator.backend) == [task_ids[1]]
        assert gator.backend.dlq_backend().stats().visible == 2


def dsn_name(dsn):
    return dsn.split("/")[3].split("?")[0]


def test_redrive_all_leaves_poison_unless_asked(dsn, gator):
    task_ids = dead_letter(gator, "a", "b")
    gator.backend.dlq_backend().send_many([Outgoing("not a task")])
    with running([dsn]) as server:
        client = Client(server.url)
        client.open_page()
        reply = client.post("/api/queues/0/redrive", {"all": True})
        assert reply.status == 200
        answer = reply.json()
        assert (answer["moved"], answer["poison"], answer["left"]) == (2, 1, 1)
        assert "1 poison, skipped: tick 'include poison'" in answer["message"]
        assert in_queue(gator.backend) == sorted(task_ids)
        reply = client.post("/api/queues/0/redrive", {"all": True, "include_poison": True})
        assert (reply.json()["moved"], reply.json()["left"]) == (1, 0)
        assert gator.backend.dlq_backend().size() == 0


def test_delete_one_message_then_all(dsn, gator):
    task_ids = dead_letter(gator, "a", "b", "c")
    with running([dsn]) as server:
        client = Client(server.url)
        client.open_page()
        reply = client.post("/api/queues/0/delete", {"message_id": message_of(client, task_ids[0])})
        assert reply.json() == {"done": True, "message": "deleted the message"}
        assert {m["task_id"] for m in listing(client)["messages"]} == set(task_ids[1:])
        reply = client.post("/api/queues/0/delete", {"all": True})
        assert reply.json() == {"done": True, "deleted": 2, "message": "deleted 2 message(s)"}
        assert listing(client)["messages"] == []
    assert gator.len() == 0  # nothing went back to the queue


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        [],
        {},
        {"all": True, "message_id": "x"},
        {"all": "yes"},
        {"message_id": 5},
        {"message_id": ""},
        {"message_id": "x" * 201},
        {"all": True, "include_poison": "yes"},
    ],
)
def test_a_malformed_action_is_400_and_changes_nothing(dsn, gator, body):
    dead_letter(gator, "a")
    with running([dsn]) as server:
        client = Client(server.url)
        client.open_page()
        reply = client.post("/api/queues/0/redrive", body)
        assert reply.status == 400 and reply.json()["error"]
    assert (gator.len(), gator.backend.dlq_backend().size()) == (0, 1)


def test_a_queue_without_a_dlq_says_so(sqs_endpoint, aws):
    aws.create_queue(QueueName="dashboard-no-dlq")
    dsn = f"sqs://us-east-1/dashboard-no-dlq?endpoint_url={sqs_endpoint}&wait_time=1"
    with running([dsn]) as server:
        client = Client(server.url)
        client.open_page()
        dead = listing(client)
        assert dead["dlq"] is None and "has no dead-letter queue" in dead["error"]
        reply = client.post("/api/queues/0/delete", {"all": True})
        assert reply.status == 409 and "has no dead-letter queue" in reply.json()["error"]
        assert client.get("/api/stats").json()["queues"][0]["dlq_depth"] is None


# -- task state ----------------------------------------------------------------


def test_a_task_state_from_the_status_store(tmp_path, monkeypatch):
    # Given a task that ran, recorded in a status store
    dsn, status = f"sqlite://{tmp_path}/q.db", f"sqlite://{tmp_path}/status.db"
    gator = Gator(dsn, status=status)
    task = gator.task(tasks.add, 2, 3)
    gator.pop()
    with running([dsn], status=status) as server:
        client = Client(server.url)
        # When looked up by id
        reply = client.get(f"/api/task?id={task.task_id}")
        # Then its state is there
        assert reply.status == 200
        state = reply.json()["task"]
        assert (state["task_id"], state["status"], state["result"]) == (task.task_id, "success", 5)
        assert state["attempts"] == 1 and state["updated_at"] >= state["created_at"] > 0
        assert client.get("/api/stats").json()["status_store"] is True
        # ...an unknown id is 404, no id 400
        unknown = client.get("/api/task?id=nope%1B")
        assert unknown.status == 404
        assert unknown.json() == {"error": "no task 'nope\\x1b' in the status store"}
        assert client.get("/api/task?id=").status == 400
    # The status store may come from ALLIGATOR_STATUS too
    monkeypatch.setenv("ALLIGATOR_STATUS", status)
    with running([dsn]) as server:
        assert Client(server.url).get(f"/api/task?id={task.task_id}").status == 200


def test_a_task_state_needs_a_status_store(dsn, gator):
    with running([dsn]) as server:
        reply = Client(server.url).get("/api/task?id=abc")
    assert reply.status == 409
    assert reply.json()["error"].startswith("no status store: start the dashboard with --status")


# -- cross-site requests -------------------------------------------------------


def assert_unchanged(gator, visible=0, dead=1):
    assert (gator.backend.stats().visible, gator.backend.dlq_backend().size()) == (visible, dead)


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(dsn, gator):
    dead_letter(gator, "a")
    with running([dsn]) as server:
        client = Client(server.url)
        client.open_page()
        for headers in ({"X-CSRF-Token": ""}, {"X-CSRF-Token": "0" * 64}):
            reply = client.post("/api/queues/0/redrive", {"all": True}, headers=headers)
            assert reply.status == 403
            assert reply.json()["error"] == "refused: missing or stale CSRF token: reload the page"
        # A client that never loaded the page has no session, so no token
        stranger = Client(server.url)
        stranger.csrf = client.csrf
        assert stranger.post("/api/queues/0/delete", {"all": True}).status == 403
    assert_unchanged(gator)


def test_a_csrf_token_is_good_for_its_own_session_only(dsn, gator):
    dead_letter(gator, "a")
    with running([dsn]) as server:
        alice, mallory = Client(server.url), Client(server.url)
        alice.open_page()
        mallory.open_page()
        mallory.csrf = alice.csrf
        assert mallory.post("/api/queues/0/delete", {"all": True}).status == 403
    assert_unchanged(gator)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},  # same host, another port: another origin
        {"Origin": None, "Referer": "http://evil.example/page"},
        {"Origin": None},  # neither Origin nor Referer
    ],
)
def test_a_post_from_another_origin_is_refused_and_changes_nothing(dsn, gator, headers):
    dead_letter(gator, "a")
    with running([dsn]) as server:
        client = Client(server.url)
        client.open_page()
        sent = {key: value for key, value in headers.items() if value is not None}
        reply = post_with(client, "/api/queues/0/redrive", {"all": True}, sent)
        assert reply.status == 403
        assert reply.json()["error"].startswith("refused: ")
    assert_unchanged(gator)


def post_with(client, path, body, headers):
    """A POST with exactly these origin headers and the session's CSRF token."""
    sent = {"X-CSRF-Token": client.csrf, **headers}
    return client.request("POST", path, body=body, headers=sent)


def test_a_post_with_the_pages_referer_is_accepted(dsn, gator):
    dead_letter(gator, "a")
    with running([dsn]) as server:
        client = Client(server.url)
        client.open_page()
        reply = post_with(client, "/api/queues/0/redrive", {"all": True}, {"Referer": server.url})
        assert reply.status == 200
    assert_unchanged(gator, visible=1, dead=0)


def test_a_form_post_is_refused(dsn, gator):
    # An HTML form on another site can POST text/plain or a form encoding
    # with no preflight; actions take JSON only.
    dead_letter(gator, "a")
    with running([dsn]) as server:
        client = Client(server.url)
        client.open_page()
        reply = client.post(
            "/api/queues/0/delete", '{"all": true}', headers={"Content-Type": "text/plain"}
        )
        assert reply.status == 403
        assert reply.json()["error"] == "refused: actions are JSON requests"
    assert_unchanged(gator)


def test_another_host_name_is_refused_on_loopback(dsn, gator):
    # A site whose name was rebound to 127.0.0.1 (DNS rebinding) sends
    # its own name as Host
    with running([dsn]) as server:
        client = Client(server.url)
        for host in (f"evil.example:{server.port}", "localhost:1", "127.0.0.1"):
            reply = client.get("/api/stats", headers={"Host": host})
            assert reply.status == 400, host
            assert "unexpected Host header" in reply.json()["error"]
        for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}"):
            assert client.get("/api/stats", headers={"Host": host}).status == 200


# -- the token -----------------------------------------------------------------


def test_with_a_token_every_request_must_carry_it(dsn, gator):
    dead_letter(gator, "a")
    with running([dsn], token=TOKEN) as server:
        anonymous = Client(server.url)
        # Without it: refused everywhere, and no session is handed out
        for path in ("/", "/api/stats", "/api/queues/0/dlq", "/static/dashboard.js"):
            reply = anonymous.get(path)
            assert reply.status == 401, path
            assert "needs its token" in reply.text
        assert anonymous.post("/api/queues/0/delete", {"all": True}).status == 401
        assert anonymous.cookies == {}
        # A wrong token: refused
        assert anonymous.get("/?token=not-the-token-at-all-0000").status == 401
        assert anonymous.cookies == {}
        # The login link: a session cookie, and the token out of the address
        login = anonymous.get(f"/?token={TOKEN}")
        assert (login.status, login.headers["Location"]) == (303, "/")
        assert list(anonymous.cookies) == [f"alligator_dashboard_{server.port}"]
        assert anonymous.open_page().status == 200
        assert anonymous.get("/api/stats").status == 200
        # ...with which the page's actions work
        assert anonymous.post("/api/queues/0/redrive", {"all": True}).status == 200
    assert_unchanged(gator, visible=1, dead=0)


def test_a_token_in_a_header_serves_scripts_but_cannot_act(dsn, gator):
    dead_letter(gator, "a")
    with running([dsn], token=TOKEN) as server:
        script = Client(server.url)
        for headers in ({"Authorization": f"Bearer {TOKEN}"}, {"X-Alligator-Token": TOKEN}):
            assert script.get("/api/stats", headers=headers).status == 200
        assert script.get("/api/stats", headers={"Authorization": "Bearer nope"}).status == 401
        # An action still needs the page's session and CSRF token
        reply = script.post(
            "/api/queues/0/delete", {"all": True}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert reply.status == 403
    assert_unchanged(gator)


# -- the command ---------------------------------------------------------------


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_another_host_without_a_token_exits_2(capsys, dsn, gator):
    code, out, err = run_cli(capsys, "dashboard", dsn, "--host", "0.0.0.0")
    assert (code, out) == (2, "")
    assert err == (
        "alligator: error: the dashboard listens on 0.0.0.0, beyond this machine: set "
        "ALLIGATOR_DASHBOARD_TOKEN to a secret of 16 characters or more\n"
    )


def test_a_short_token_is_taken_with_a_warning(caplog):
    from alligator.dashboard.security import check_token

    check_token("0.0.0.0", "short")  # it starts (the contract asks for a token, no length)
    assert "shorter than 16 characters" in caplog.text


def test_without_flask_the_command_names_the_extra(capsys, dsn, gator, monkeypatch):
    monkeypatch.setitem(sys.modules, "flask", None)  # as if not installed
    code, out, err = run_cli(capsys, "dashboard", dsn)
    assert (code, out) == (2, "")
    assert err == (
        "alligator: error: alligator dashboard needs Flask: pip install 'alligator[dashboard]'\n"
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sqlite:///nowhere/q.db"], "no queue database at '/nowhere/q.db'"),
        (["locmem://"], "locmem:// lives inside one process"),
        (["{dsn}", "--status", "locmem://"], "a locmem:// status store lives inside one process"),
        (["{dsn}", "--status", "sqlite:///nowhere/s.db"], "no status database"),
        (["{dsn}", "--port", "-1"], "must not be negative"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(capsys, dsn, gator, argv, message):
    code, out, err = run_cli(capsys, "dashboard", *[arg.format(dsn=dsn) for arg in argv])
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and message in err


def test_a_port_in_use_exits_2(capsys, dsn, gator):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, out, err = run_cli(capsys, "dashboard", dsn, "--port", str(port))
    assert (code, out) == (2, "")
    assert err == f"alligator: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_the_command_serves_until_sigterm(dsn, gator):
    # Given the real command, on any free port
    gator.task(tasks.add, 1, 2)
    process = subprocess.Popen(
        [sys.executable, "-m", "alligator", "dashboard", dsn, "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killer = threading.Timer(60, process.kill)  # never hang the suite
    killer.start()
    try:
        # When it says where it listens
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group()
        # Then it serves, and SIGTERM stops it cleanly
        reply = Client(url).get("/api/stats")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate()
    finally:
        killer.cancel()
    assert reply.status == 200 and reply.json()["queues"][0]["visible"] == 1
    assert line == f"alligator dashboard on {url}  (Ctrl-C stops)\n"
    assert process.returncode == 0
    assert err == "alligator dashboard stopped\n"  # no access log, no traceback
