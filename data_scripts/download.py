"""Verified downloads and safe archive extraction for the data scripts.

``download`` goes through Pooch (a maintained download manager): the file is fetched to
a temporary name, its SHA-256 is checked, and only then is it moved into place, so a
failed or interrupted download, or one with the wrong checksum, leaves nothing behind.
``safe_extract`` unpacks a zip or tar archive into a fresh folder and refuses any member
whose path would land outside it (absolute paths, ``..``, links pointing out).
"""

from __future__ import annotations

import os
import shutil
import tarfile
import uuid
import zipfile
from pathlib import Path


def download(url: str, sha256: str, folder: str | os.PathLike, progress: bool = True) -> Path:
    """Download ``url`` into ``folder`` unless a file with the right SHA-256 is already there.

    Raises ``ValueError`` if the downloaded file's SHA-256 differs from ``sha256``.
    """
    import pooch

    sha256 = sha256.lower().removeprefix("sha256:")
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"{sha256!r} is not a SHA-256 (64 hexadecimal digits)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = pooch.retrieve(url, known_hash=f"sha256:{sha256}", path=folder, progressbar=progress)
    return Path(path)


def _inside(base: Path, name: str) -> bool:
    target = (base / name).resolve()
    return target == base or base in target.parents


def _check_members(archive: Path, base: Path) -> None:
    base = base.resolve()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            bad = [n for n in zf.namelist() if not _inside(base, n)]
    else:
        with tarfile.open(archive) as tf:
            bad = []
            for m in tf.getmembers():
                if not _inside(base, m.name):
                    bad.append(m.name)
                elif (m.issym() or m.islnk()) and not _inside(
                    base,
                    os.path.join(os.path.dirname(m.name), m.linkname) if m.issym() else m.linkname,
                ):
                    bad.append(f"{m.name} -> {m.linkname}")
    if bad:
        raise ValueError(
            f"refusing to extract {archive}: {len(bad)} member(s) would be written outside "
            f"the target folder, e.g. {bad[0]!r}. The archive is damaged or malicious."
        )


def safe_extract(archive: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Extract a zip or tar archive into ``target`` (which must not exist yet).

    Every member path is checked before anything is written; extraction happens in a
    temporary sibling folder that is renamed to ``target`` when complete.
    """
    archive, target = Path(archive), Path(target)
    if target.exists():
        raise FileExistsError(f"{target} already exists; remove it or choose another folder")
    if not (zipfile.is_zipfile(archive) or tarfile.is_tarfile(archive)):
        raise ValueError(f"{archive} is neither a zip nor a tar archive")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:8]}")
    _check_members(archive, tmp)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp)
        else:
            with tarfile.open(archive) as tf:
                tf.extractall(tmp, filter="data")  # the stdlib's own safety net as well
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
