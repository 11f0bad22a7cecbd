"""Verified downloads (from a local HTTP server) and archive extraction that stays inside."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
import zipfile

import pytest

from data_scripts.download import download, safe_extract

pytestmark = pytest.mark.backend_free  # no Keras here: skipped on JAX and torch

PAYLOAD = b"handwriting " * 1000


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(200)
        if self.path == "/cut.zip":  # promises more bytes than it sends, then hangs up
            self.send_header("Content-Length", str(len(PAYLOAD) * 2))
            self.end_headers()
            self.wfile.write(PAYLOAD)
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_verifies_sha256(server, tmp_path):
    good = hashlib.sha256(PAYLOAD).hexdigest()
    path = download(f"{server}/data.zip", good, tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD
    again = download(f"{server}/data.zip", good, tmp_path, progress=False)
    assert again == path


def test_wrong_checksum_leaves_no_file(server, tmp_path):
    with pytest.raises(ValueError, match="SHA256 hash of downloaded file"):
        download(f"{server}/data.zip", "0" * 64, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_leaves_no_file(server, tmp_path):
    with pytest.raises(Exception):  # noqa: B017 (requests' error type for a cut connection)
        download(f"{server}/cut.zip", hashlib.sha256(PAYLOAD).hexdigest(), tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_malformed_checksum_is_refused(tmp_path):
    with pytest.raises(ValueError, match="is not a SHA-256"):
        download("http://127.0.0.1:9/x", "abc", tmp_path)


def make_zip(path, names):
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name, b"x")
    return path


def test_safe_extract_zip(tmp_path):
    archive = make_zip(tmp_path / "ok.zip", ["Train/人/1.png", "Test/人/2.png"])
    out = safe_extract(archive, tmp_path / "out")
    assert (out / "Train" / "人" / "1.png").read_bytes() == b"x"


@pytest.mark.parametrize("name", ["../evil.txt", "Train/../../evil.txt", "/tmp/evil.txt"])
def test_zip_member_escaping_the_target_is_refused(tmp_path, name):
    archive = make_zip(tmp_path / "bad.zip", ["Train/ok.png", name])
    with pytest.raises(ValueError, match="outside the target folder"):
        safe_extract(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zip"]


def test_tar_symlink_pointing_outside_is_refused(tmp_path):
    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w") as tf:
        link = tarfile.TarInfo("Train/link")
        link.type, link.linkname = tarfile.SYMTYPE, "../../etc/passwd"
        tf.addfile(link)
    with pytest.raises(ValueError, match="Train/link -> ../../etc/passwd"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_tar_with_absolute_path_is_refused(tmp_path):
    archive = tmp_path / "bad.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("/etc/evil")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ValueError, match="outside the target folder"):
        safe_extract(archive, tmp_path / "out")


def test_extract_refuses_existing_target_and_non_archives(tmp_path):
    archive = make_zip(tmp_path / "ok.zip", ["a.txt"])
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError):
        safe_extract(archive, tmp_path / "out")
    (tmp_path / "plain.txt").write_text("hello")
    with pytest.raises(ValueError, match="neither a zip nor a tar"):
        safe_extract(tmp_path / "plain.txt", tmp_path / "out2")


def test_archives_over_the_member_or_size_limits_are_refused_before_writing(tmp_path):
    many = make_zip(tmp_path / "many.zip", [f"{i}.png" for i in range(11)])
    with pytest.raises(ValueError, match="11 members, .* the limits are 10 members"):
        safe_extract(many, tmp_path / "out", max_members=10)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", bytes(10_000_000))
    assert bomb.stat().st_size < 100_000  # 10 MB unpacked from under 100 kB
    with pytest.raises(ValueError, match="10,000,000 bytes unpacked.*A zip bomb"):
        safe_extract(bomb, tmp_path / "out", max_bytes=1_000_000)
    big_tar = tmp_path / "big.tar.gz"
    with tarfile.open(big_tar, "w:gz") as tf:
        info = tarfile.TarInfo("zeros.bin")
        info.size = 2_000_000
        tf.addfile(info, io.BytesIO(bytes(info.size)))
    with pytest.raises(ValueError, match="2,000,000 bytes unpacked"):
        safe_extract(big_tar, tmp_path / "out", max_bytes=1_000_000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.tar.gz", "bomb.zip", "many.zip"]
    assert safe_extract(bomb, tmp_path / "out").joinpath("zeros.bin").stat().st_size == 10**7
