"""Serving a web app from a notebook: a background HTTP server that stops cleanly (lesson 10).

Lesson 10 writes a small Flask app with a ``POST /predict`` route in its cells; this module
holds only the plumbing the course does not teach: running that app on this machine in a
background thread, so that the same notebook can send it requests, and stopping it again::

    server = serve_in_background(app)      # 127.0.0.1, on a port the system picks
    ...                                    # requests to server.url + "/predict"
    server.stop()                          # shut down, close the socket, join the thread
    assert port_is_free(server.port)

The server is Werkzeug's (``werkzeug.serving.make_server``, which Flask itself uses for
``flask run``): a development server, fine for one person and a notebook, not for the
public internet (there, a WSGI server such as gunicorn runs the same app). It listens on
127.0.0.1 only, so nothing outside this machine can reach it; that works the same on a
laptop, offline, and inside Colab or Kaggle, where the notebook and the server share one
machine. Port 0 asks the system for a free port, so two notebooks never collide.

``request_bytes`` gives a route the uploaded file, from a form's field or the raw body;
``multipart_body`` builds the body a browser sends when a form uploads a file
(``multipart/form-data``), which Python's standard library has no function for.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import uuid

import flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

#: Where the server listens: this machine only.
LOCALHOST = "127.0.0.1"


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's request handler without the one log line per request (errors still go
    to the log): in a notebook those lines would land under whichever cell is running."""

    def log_request(self, code="-", size="-") -> None:
        pass


class BackgroundServer:
    """A WSGI app (a Flask app, for example) served over HTTP from a daemon thread.

    Make one with :func:`serve_in_background`. ``url`` is the address to send requests to;
    :meth:`stop` ends it (also on leaving a ``with`` block). Requests are handled one at a
    time, in the server's thread, so the app's model never predicts from two threads at once.
    """

    def __init__(self, app, host: str = LOCALHOST, port: int = 0, quiet: bool = True):
        handler = _QuietHandler if quiet else None
        said = io.StringIO()
        try:  # Werkzeug reports a taken port on stderr and exits: make that an OSError
            with contextlib.redirect_stderr(said):
                self._server: BaseWSGIServer = make_server(host, port, app, request_handler=handler)
        except SystemExit:
            reason = " ".join(said.getvalue().split()) or "it cannot listen there"
            raise OSError(f"cannot serve on {host}:{port}: {reason}") from None
        self.host = host
        self.port: int = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"http-{self.port}",
            daemon=True,  # a server left running never keeps Python from exiting
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """The server's address, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """True until :meth:`stop` has ended the server's thread."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, close the listening socket and wait for the thread to end.

        Safe to call twice. Raises ``TimeoutError`` if the thread is still busy with a
        request after ``timeout`` seconds.
        """
        if self._thread.is_alive():
            self._server.shutdown()  # serve_forever returns after the current request
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the server on port {self.port} did not stop in {timeout} s")
        self._server.server_close()  # frees the port

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<BackgroundServer {self.url} ({state})>"


def serve_in_background(
    app, host: str = LOCALHOST, port: int = 0, quiet: bool = True
) -> BackgroundServer:
    """Serve ``app`` (any WSGI app, e.g. ``flask.Flask``) from a background thread.

    Args:
        app: the web app.
        host: the address to listen on; the default, 127.0.0.1, is reachable from this
            machine only.
        port: the port; 0 (the default) lets the system pick a free one.
        quiet: leave out the log line Werkzeug writes for every request.
    Returns:
        A running :class:`BackgroundServer`; ``.url`` is its address, ``.stop()`` ends it.
    Raises:
        OSError: the port is taken (or the address is not this machine's).
    """
    return BackgroundServer(app, host, port, quiet)


def port_is_free(port: int, host: str = LOCALHOST) -> bool:
    """Whether a new server could listen on ``port`` now (nothing is listening there).

    The probe sets ``SO_REUSEADDR``, as servers do, so connections that closed a moment ago
    (the system keeps them in TIME_WAIT for a while) do not count as holding the port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
            probe.listen(1)
        except OSError:
            return False
    return True


def accepts_connections(port: int, host: str = LOCALHOST, timeout: float = 1.0) -> bool:
    """Whether something is listening on ``port``: a TCP connection succeeds."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def multipart_body(
    field: str, filename: str, data: bytes, content_type: str = "application/octet-stream"
) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body holding one file, as a browser's upload form sends it.

    Returns ``(body, header)``: send ``body`` with the ``Content-Type`` header ``header``
    (it names the boundary line that separates the parts). Flask reads the file back as
    ``request.files[field]``.
    """
    for name, value in (("field", field), ("filename", filename), ("content_type", content_type)):
        if any(c in value for c in '"\r\n'):
            raise ValueError(f"{name} {value!r} must not contain quotes or line breaks")
    boundary = f"----course-{uuid.uuid4().hex}"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    body = head + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def request_bytes(field: str = "image") -> bytes:
    """Inside a Flask route: the uploaded file, from a form's ``field`` or else the raw
    body, whatever its Content-Type (``curl --data-binary`` labels it as form data). The
    body is read first, since parsing a form consumes it; a form upload without ``field``
    stops the route with a 400 that names the field."""
    body = flask.request.get_data()
    upload = flask.request.files.get(field)
    if flask.request.mimetype == "multipart/form-data" and upload is None:
        flask.abort(400, f"form upload: send the file in a field named {field!r}")
    return upload.read() if upload else body
