"""Verified downloads and safe archive extraction for the data scripts.

``download`` goes through Pooch (a maintained download manager): the file is fetched to
a temporary name, its SHA-256 is checked, and only then is it moved into place, so a
failed or interrupted download, or one with the wrong checksum, leaves nothing behind.
``safe_extract`` unpacks a zip or tar archive into a fresh folder and refuses any member
whose path would land outside it (absolute paths, ``..``, links pointing out), and an
archive with more members or more bytes than its limits (a zip bomb), before writing.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import zipfile
from pathlib import Path

from course_utils.cache import partial_folder

#: ``safe_extract``'s default limits: about 5 times the largest archive the course reads.
MAX_MEMBERS = 2_000_000
MAX_BYTES = 50 * 2**30


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


def _check_members(archive: Path, base: Path, max_members: int, max_bytes: int) -> None:
    base = base.resolve()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            sizes = [i.file_size for i in zf.infolist()]  # zipfile stops reading at these
            bad = [n for n in zf.namelist() if not _inside(base, n)]
    else:
        with tarfile.open(archive) as tf:
            bad, sizes = [], [m.size for m in tf.getmembers()]
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
    free = shutil.disk_usage(base.parent).free
    if len(sizes) > max_members or sum(sizes) > min(max_bytes, free):
        raise ValueError(
            f"refusing to extract {archive}: {len(sizes):,} members, {sum(sizes):,} bytes "
            f"unpacked; the limits are {max_members:,} members and {max_bytes:,} bytes "
            f"({free:,} bytes free). A zip bomb? If you trust it, raise the limits."
        )


def safe_extract(
    archive: str | os.PathLike,
    target: str | os.PathLike,
    max_members: int = MAX_MEMBERS,
    max_bytes: int = MAX_BYTES,
) -> Path:
    """Extract a zip or tar archive into ``target`` (which must not exist yet).

    Every member path, the number of members and their unpacked size (at most
    ``max_members`` and ``max_bytes``, and what the disk has free) are checked before
    anything is written; extraction happens in a temporary sibling folder that is renamed
    to ``target`` when complete (one left by a killed run is removed by the next).
    """
    archive, target = Path(archive), Path(target)
    if target.exists():
        raise FileExistsError(f"{target} already exists; remove it or choose another folder")
    if not (zipfile.is_zipfile(archive) or tarfile.is_tarfile(archive)):
        raise ValueError(f"{archive} is neither a zip nor a tar archive")
    target.parent.mkdir(parents=True, exist_ok=True)
    _check_members(archive, target, max_members, max_bytes)
    tmp = partial_folder(target)  # after removing those of killed runs
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
