"""``python -m search dashboard``: read-only unless --allow-writes, deaf to requests sent to another name (issue 32, item 5).

The in-process tests run the command itself through ``main(argv)``: its server binds a real port, and
instead of waiting for a browser it answers the test's requests through the WSGI application it
serves (:func:`_served`), so that what is checked is what the command serves. The slow test starts the
command as a user types it and sends it a forged Host header over the network.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIServer
from wsgiref.util import setup_testing_defaults

import optuna
import pytest

from search.cli import main as search
from search.dashboard import Guard
from search.runtime.storage import ARTIFACT_DIR

PICTURE = b"\x89PNG\r\n\x1a\n reconstructions of trial 0"


@pytest.fixture
def studies(tmp_path: Path) -> tuple[str, dict[str, int], str]:
    """A SQLite file holding studies ``tiny`` (one trial with an uploaded picture) and ``other``: (url, ids by name, artifact path)."""
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    folder = tmp_path / "artifacts"
    folder.mkdir()
    store = optuna.artifacts.FileSystemArtifactStore(str(folder))
    tiny = optuna.create_study(study_name="tiny", storage=url)
    tiny.set_user_attr(ARTIFACT_DIR, str(folder))
    trial = tiny.ask()
    picture = tmp_path / "reconstructions.png"
    picture.write_bytes(PICTURE)
    artifact = optuna.artifacts.upload_artifact(artifact_store=store, file_path=str(picture), study_or_trial=trial)
    tiny.tell(trial, 0.5)
    other = optuna.create_study(study_name="other", storage=url)
    ids = {"tiny": tiny._study_id, "other": other._study_id}
    return url, ids, f"/artifacts/{tiny._study_id}/{trial._trial_id}/{artifact}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _call(app, method: str, path: str, host: str | None, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
    environ |= {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
    if "Content-Type" in headers:
        environ["CONTENT_TYPE"] = headers["Content-Type"]
    setup_testing_defaults(environ)
    environ.pop("HTTP_HOST", None)
    if host is not None:
        environ["HTTP_HOST"] = host
    status = []
    chunks = app(environ, lambda line, response_headers, exc_info=None: status.append(line))
    body = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    return int(status[0].split()[0]), body


def _served(monkeypatch: pytest.MonkeyPatch, argv: list[str], requests: list[tuple]) -> tuple[int, list[tuple[int, bytes]]]:
    """``python -m search dashboard ARGV``, whose server answers ``requests`` ((method, path, host[, headers[, body]]), with
    the port it serves on for ``{port}``) through the application it serves, then stops: (exit code, (status, body) of each)."""
    port = _free_port()
    answers: list[tuple[int, bytes]] = []

    def answer(server: WSGIServer, *args: object, **kwargs: object) -> None:
        app = server.get_app()
        for method, path, host, *rest in requests:
            headers = {name: value.format(port=port) for name, value in (rest[0] if rest else {}).items()}
            body = rest[1] if len(rest) > 1 else b""
            answers.append(_call(app, method, path, host.format(port=port), headers, body))

    monkeypatch.setattr(WSGIServer, "serve_forever", answer)
    code = search(["dashboard", "--port", str(port), *argv])
    return code, answers


def _names(url: str) -> set[str]:
    return {s.study_name for s in optuna.get_all_study_summaries(url, include_best_trial=False)}


def test_a_foreign_host_header_deletes_nothing_even_with_writes_allowed(
    studies: tuple[str, dict[str, int], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, ids, _ = studies
    for flags in ([], ["--allow-writes"]):
        delete = ("DELETE", f"/api/studies/{ids['other']}", "attacker.example:{port}")
        code, [(status, body)] = _served(monkeypatch, ["--study", "tiny", "--storage", url, *flags], [delete])
        assert code == 0 and status == 403, (flags, status, body)
        assert "Host 'attacker.example:" in json.loads(body)["reason"]
        assert _names(url) == {"tiny", "other"}


def test_the_dashboard_is_read_only_unless_asked_even_from_its_own_address(
    studies: tuple[str, dict[str, int], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, ids, _ = studies
    rename = (
        "POST",
        f"/api/studies/{ids['other']}/rename",
        "127.0.0.1:{port}",
        {"Content-Type": "application/json"},
        b'{"study_name": "x"}',
    )
    requests = [
        ("DELETE", f"/api/studies/{ids['other']}", "localhost:{port}"),
        rename,
        ("PUT", f"/api/studies/{ids['tiny']}/note", "[::1]:{port}"),
    ]
    code, answers = _served(monkeypatch, ["--study", "tiny", "--storage", url], requests)
    assert code == 0 and [status for status, _ in answers] == [403, 403, 403], answers
    assert all("read-only" in json.loads(body)["reason"] and "--allow-writes" in json.loads(body)["reason"] for _, body in answers)
    assert _names(url) == {"tiny", "other"}


def test_pages_studies_and_trial_pictures_are_still_served(
    studies: tuple[str, dict[str, int], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _, picture = studies
    requests = [
        ("GET", "/dashboard", "127.0.0.1:{port}"),
        ("GET", "/api/studies", "localhost:{port}"),
        ("GET", picture, "127.0.0.1:{port}"),
    ]
    code, [page, listing, artifact] = _served(monkeypatch, ["--study", "tiny", "--storage", url], requests)
    assert code == 0
    assert page[0] == 200 and b"<html" in page[1].lower()
    assert listing[0] == 200 and {s["study_name"] for s in json.loads(listing[1])["study_summaries"]} == {"tiny", "other"}
    assert artifact == (200, PICTURE)


def test_writes_are_served_when_asked_from_the_dashboards_own_address_and_site(
    studies: tuple[str, dict[str, int], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, ids, _ = studies
    cross_site = {"Content-Type": "application/json", "Origin": "http://evil.example"}
    requests = [
        # a page elsewhere (a cross-site request) with the right Host: refused, though writes are allowed
        ("POST", f"/api/studies/{ids['tiny']}/rename", "127.0.0.1:{port}", cross_site, b'{"study_name": "renamed"}'),
        ("DELETE", f"/api/studies/{ids['other']}", "localhost:{port}", {"Origin": "http://localhost:{port}"}),
    ]
    code, [(refused, why), (deleted, _)] = _served(monkeypatch, ["--study", "tiny", "--storage", url, "--allow-writes"], requests)
    assert code == 0 and refused == 403 and "Origin 'http://evil.example'" in json.loads(why)["reason"]
    assert deleted == 204
    assert _names(url) == {"tiny"}


@pytest.mark.parametrize(
    ("bound", "host", "served"),
    [
        ("127.0.0.1", "127.0.0.1:8766", True),
        ("127.0.0.1", "LOCALHOST:8766", True),  # names are case-blind
        ("127.0.0.1", "[::1]:8766", True),
        ("127.0.0.1", "localhost:8767", False),  # the right name, another port (another local server's page)
        ("127.0.0.1", "localhost", False),  # no port: 80
        ("127.0.0.1", "attacker.example:8766", False),
        ("127.0.0.1", "localhost.attacker.example:8766", False),
        ("127.0.0.1", "127.0.0.1.nip.io:8766", False),
        ("127.0.0.1", "evil@localhost:8766", False),
        ("127.0.0.1", "localhost:8766/x", False),
        ("127.0.0.1", "[::1]:8766:8766", False),
        ("127.0.0.1", "10.0.0.5:8766", False),  # an address this dashboard is not bound to
        ("127.0.0.1", "", False),
        ("127.0.0.1", None, False),  # an HTTP/1.0 request without a Host header
        ("::1", "[::1]:8766", True),
        ("my-box.lan", "my-box.lan:8766", True),  # the name it was told to bind
        ("0.0.0.0", "10.0.0.5:8766", True),  # every interface: any IP literal (it cannot be rebound)
        ("0.0.0.0", f"{socket.gethostname()}:8766", True),
        ("0.0.0.0", "attacker.example:8766", False),
    ],
)
def test_the_host_header_must_name_the_dashboard_with_its_port(bound: str, host: str | None, served: bool) -> None:
    guard = Guard(lambda environ, start_response: start_response("200 OK", []) or [b"ok"], host=bound, port=8766)
    assert (_call(guard, "GET", "/api/studies", host, {}, b"")[0] == 200) is served


@pytest.mark.parametrize("origin", ["null", "https://127.0.0.1:8766", "http://127.0.0.1:8767", "http://attacker.example:8766", "file://"])
def test_a_request_from_another_site_is_refused_whatever_its_host(origin: str) -> None:
    guard = Guard(lambda environ, start_response: start_response("200 OK", []) or [b"ok"], host="127.0.0.1", port=8766, allow_writes=True)
    status, body = _call(guard, "GET", "/api/studies", "127.0.0.1:8766", {"Origin": origin}, b"")
    assert status == 403 and "another site" in json.loads(body)["reason"]


def test_a_huge_write_is_refused_without_reading_its_body() -> None:
    class Unread(io.RawIOBase):
        def read(self, size: int = -1) -> bytes:
            raise AssertionError("the body of a refused request was read")

    def app(environ, start_response):
        raise AssertionError("a refused request reached optuna-dashboard")

    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/studies", "HTTP_HOST": "127.0.0.1:8766", "CONTENT_LENGTH": str(10**12)}
    setup_testing_defaults(environ)
    environ["wsgi.input"] = Unread()
    status = []
    body = b"".join(Guard(app, host="127.0.0.1", port=8766)(environ, lambda line, headers: status.append(line)))
    assert status == ["403 Forbidden"] and "read-only" in json.loads(body)["reason"]


@pytest.mark.parametrize("port", ["70000", "65536", "-1", "eighty"])
def test_a_port_out_of_range_is_one_line(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        search(["dashboard", "--study", "tiny", "--port", port])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and "--port" in err and "a port from 1 to 65535" in err, err


def test_a_port_in_use_is_one_line_naming_it_and_how_to_pick_another(
    studies: tuple[str, dict[str, int], str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _, _ = studies
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = search(["dashboard", "--study", "tiny", "--storage", url, "--port", str(port)])
    captured = capsys.readouterr()
    said = f"error: --port {port}: already in use on 127.0.0.1 (another dashboard?): "
    said += "choose another with --port N, or --port 0 for any free one\n"
    assert code == 2 and captured.err == said
    assert "optuna-dashboard on" not in captured.out  # nothing announced for an address it could not serve


def test_dashboard_help_describes_each_flag_and_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        search(["dashboard", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert stop.value.code == 0
    for words in ("default 127.0.0.1", "default 8080", "--allow-writes", "default: read-only", "default sqlite:///studies/NAME.db"):
        assert words in out, words


@pytest.fixture
def dashboard_process(studies: tuple[str, dict[str, int], str]) -> Iterator[tuple[subprocess.Popen[str], int]]:
    url, _, _ = studies
    port = _free_port()
    command = [sys.executable, "-m", "search", "dashboard", "--study", "tiny", "--storage", url, "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        assert process.poll() is None, process.communicate()
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _send(method: str, url: str, host: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method, headers={"Host": host}), timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.slow
@pytest.mark.serial
def test_the_command_as_typed_refuses_a_forged_host_and_writes_and_stops_on_ctrl_c(
    studies: tuple[str, dict[str, int], str], dashboard_process: tuple[subprocess.Popen[str], int]
) -> None:
    url, ids, picture = studies
    process, port = dashboard_process
    base = f"http://127.0.0.1:{port}"
    forged = _send("DELETE", f"{base}/api/studies/{ids['other']}", f"attacker.example:{port}")
    own = _send("DELETE", f"{base}/api/studies/{ids['other']}", f"127.0.0.1:{port}")
    rebound = _send("GET", f"{base}/api/studies", f"attacker.example:{port}")
    assert (forged[0], own[0], rebound[0]) == (403, 403, 403), (forged, own, rebound)
    assert _names(url) == {"tiny", "other"}
    assert _send("GET", f"{base}{picture}", f"127.0.0.1:{port}") == (200, PICTURE)
    assert _send("GET", f"{base}/artifacts/{ids['tiny']}/1/..%2F..%2F..%2Fetc%2Fpasswd", f"127.0.0.1:{port}")[0] == 404
    process.send_signal(signal.SIGINT)  # how a dashboard is stopped
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0 and "Traceback" not in err, err
    assert f"http://127.0.0.1:{port}/dashboard/" in out and "read-only" in out
