"""course_utils.serving: a background HTTP server that answers, refuses bad input with a 4xx
through the real socket, and stops cleanly, freeing its port (lesson 10)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import urllib.error
import urllib.request

import flask
import pytest
from werkzeug.exceptions import HTTPException

from course_utils.serving import (
    BackgroundServer,
    accepts_connections,
    multipart_body,
    port_is_free,
    request_bytes,
    serve_in_background,
)

pytestmark = pytest.mark.backend_free  # no Keras here: skipped on JAX and torch

LIMIT = 1_000  # bytes, the test app's MAX_CONTENT_LENGTH


def make_app() -> flask.Flask:
    """A stand-in for lesson 10's app: POST /predict reads the upload with request_bytes,
    answers JSON, and turns every HTTP error into a JSON error."""
    app = flask.Flask("test_serving")
    app.config["MAX_CONTENT_LENGTH"] = LIMIT

    @app.post("/predict")
    def predict():
        data = request_bytes()  # what lesson 10's route reads
        if not data:
            return {"error": "empty request"}, 400
        if not data.startswith(b"IMG"):
            return {"error": "not an image"}, 400
        upload = flask.request.files.get("image")
        name = upload.filename if upload else None
        return {"bytes": len(data), "filename": name, "thread": threading.current_thread().name}

    @app.errorhandler(HTTPException)
    def as_json(error):
        return {"error": error.description}, error.code

    return app


def ask(url: str, body: bytes | None = None, content_type: str = "application/octet-stream",
        method: str = "POST") -> tuple[int, dict]:  # fmt: skip
    request = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def server():
    running = serve_in_background(make_app())
    yield running
    running.stop()


def test_serves_on_localhost_and_a_free_port(server):
    assert server.host == "127.0.0.1" and server.port > 0 and server.running
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert not port_is_free(server.port) and accepts_connections(server.port)
    status, answer = ask(server.url + "/predict", b"IMG-1234")
    assert (status, answer["bytes"]) == (200, 8)
    # one request at a time, in the server's own thread (not a thread per request)
    assert answer["thread"] == f"http-{server.port}"


def test_two_servers_get_different_ports():
    with serve_in_background(make_app()) as a, serve_in_background(make_app()) as b:
        assert a.port != b.port
        assert ask(a.url + "/predict", b"IMG")[0] == ask(b.url + "/predict", b"IMG")[0] == 200


@pytest.mark.parametrize(
    "body, method, status",
    [
        (b"", "POST", 400),  # empty
        (b"<html>not an image</html>", "POST", 400),
        (b"IMG" + b"x" * LIMIT, "POST", 413),  # one byte over the limit
        (b"IMG" + b"x" * 5_000_000, "POST", 413),  # far over: refused, not a reset connection
        (None, "GET", 405),
        (None, "PUT", 405),
    ],
)
def test_bad_requests_get_a_4xx_json_answer(server, body, method, status):
    code, answer = ask(server.url + "/predict", body, method=method)
    assert code == status and answer["error"]
    assert server.running  # the server survives every bad request
    assert ask(server.url + "/predict", b"IMG")[0] == 200


def test_unknown_path_is_a_404(server):
    assert ask(server.url + "/elsewhere", b"IMG")[0] == 404


def test_multipart_upload_reaches_request_files(server):
    body, header = multipart_body("image", "森.png", b"IMG\r\n--not-a-boundary\r\n\x00\xff")
    status, answer = ask(server.url + "/predict", body, header)
    assert status == 200
    assert answer["bytes"] == len(b"IMG\r\n--not-a-boundary\r\n\x00\xff")
    assert answer["filename"] == "森.png"
    big, header = multipart_body("image", "big.png", b"IMG" + b"x" * LIMIT)
    assert ask(server.url + "/predict", big, header)[0] == 413


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "image/png"]
)
def test_a_raw_body_is_read_whatever_its_label(server, content_type):
    # curl --data-binary labels the body as form data; the bytes must still arrive whole
    status, answer = ask(server.url + "/predict", b"IMG=1&x=%00\xff", content_type)
    assert (status, answer["bytes"]) == (200, len(b"IMG=1&x=%00\xff"))


def test_a_form_without_the_image_field_gets_a_clear_400(server):
    body, header = multipart_body("file", "x.png", b"IMG")
    status, answer = ask(server.url + "/predict", body, header)
    assert status == 400 and "field named 'image'" in answer["error"]
    assert ask(server.url + "/predict", *multipart_body("image", "x.png", b"IMG"))[0] == 200


@pytest.mark.parametrize("field, filename", [('a"b', "x.png"), ("image", "x\r\n.png")])
def test_multipart_refuses_header_injection(field, filename):
    with pytest.raises(ValueError, match="quotes or line breaks"):
        multipart_body(field, filename, b"IMG")


def test_stop_ends_the_thread_and_frees_the_port():
    server = serve_in_background(make_app())
    url, port = server.url, server.port
    assert ask(url + "/predict", b"IMG")[0] == 200  # leaves a closed connection behind
    server.stop()
    assert not server.running and "stopped" in repr(server)
    assert port_is_free(port) and not accepts_connections(port)
    with pytest.raises(urllib.error.URLError):
        ask(url + "/predict", b"IMG")
    server.stop()  # a second stop is harmless
    again = serve_in_background(make_app(), port=port)  # the port can be served again
    try:
        assert ask(again.url + "/predict", b"IMG")[0] == 200
    finally:
        again.stop()


def test_leaving_a_with_block_stops_the_server():
    with serve_in_background(make_app()) as server:
        assert server.running
    assert not server.running and port_is_free(server.port)


def test_a_taken_port_raises_oserror_not_systemexit():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert not port_is_free(port)
        with pytest.raises(OSError, match=f"cannot serve on 127.0.0.1:{port}"):
            BackgroundServer(make_app(), port=port)


def test_server_errors_are_500_and_the_server_survives(caplog):
    app = make_app()

    @app.post("/broken")
    def broken():
        raise RuntimeError("a bug in the app")

    with serve_in_background(app) as server:
        status, answer = ask(server.url + "/broken", b"IMG")
        assert status == 500 and answer["error"]
        assert ask(server.url + "/predict", b"IMG")[0] == 200


@pytest.mark.parametrize("quiet", [True, False])
def test_quiet_leaves_out_the_line_per_request(caplog, quiet):
    caplog.set_level(logging.INFO, logger="werkzeug")
    with serve_in_background(make_app(), quiet=quiet) as server:
        ask(server.url + "/predict", b"IMG")
    lines = [r.getMessage() for r in caplog.records if "POST /predict" in r.getMessage()]
    assert bool(lines) is not quiet
