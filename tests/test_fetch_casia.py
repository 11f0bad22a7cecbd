"""The CASIA .gnt reader and the subset builder, on .gnt files and exports the tests write."""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np
import pytest
from PIL import Image

from course_utils.characters import COURSE_CHARACTERS
from data_scripts import fetch_casia
from data_scripts.fetch_casia import GntError, build_subset, read_gnt

pytestmark = pytest.mark.backend_free  # no Keras here: skipped on JAX and torch


def gnt_bytes(samples) -> bytes:
    """Encode ``[(char, bitmap), ...]`` in the documented .gnt layout."""
    out = bytearray()
    for char, bitmap in samples:
        h, w = bitmap.shape
        code = char.encode("gbk") if isinstance(char, str) else char
        out += struct.pack("<I2sHH", 10 + w * h, code, w, h) + bitmap.tobytes()
    return bytes(out)


def bitmap(seed, shape=(7, 5)):
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def test_read_gnt_round_trip():
    samples = [("人", bitmap(0)), ("口", bitmap(1, (4, 9))), ("啖", bitmap(2))]
    out = list(read_gnt(io.BytesIO(gnt_bytes(samples)), "w.gnt"))
    assert [c for c, _ in out] == ["人", "口", "啖"]
    for (_, got), (_, want) in zip(out, samples, strict=True):
        np.testing.assert_array_equal(got, want)


def test_truncated_bitmap_names_file_and_offset():
    data = gnt_bytes([("人", bitmap(0)), ("口", bitmap(1))])
    with pytest.raises(GntError, match=r"w\.gnt: sample '口' at byte offset 45 is truncated"):
        list(read_gnt(io.BytesIO(data[:-3]), "w.gnt"))


def test_truncated_header_names_file_and_offset():
    data = gnt_bytes([("人", bitmap(0))])
    with pytest.raises(GntError, match=r"w\.gnt: truncated sample header at byte offset 45"):
        list(read_gnt(io.BytesIO(data + b"\x01\x02\x03"), "w.gnt"))


def test_wrong_tag_code_names_file_and_offset():
    data = gnt_bytes([("人", bitmap(0)), (b"\xff\xff", bitmap(1))])
    with pytest.raises(GntError, match=r"w\.gnt: tag code 0xffff at byte offset 45"):
        list(read_gnt(io.BytesIO(data), "w.gnt"))


def test_size_that_disagrees_with_dimensions():
    data = bytearray(gnt_bytes([("人", bitmap(0))]))
    data[0] += 1
    with pytest.raises(GntError, match="byte offset 0 says it has 46 bytes but 5×7 pixels"):
        list(read_gnt(io.BytesIO(bytes(data)), "w.gnt"))


def writer_file(path, seed, extra="的"):
    """One writer's .gnt: every course character once, plus a character we do not use."""
    samples = [(c, bitmap(seed * 1000 + i)) for i, c in enumerate(COURSE_CHARACTERS + extra)]
    path.write_bytes(gnt_bytes(samples))
    return samples


def test_build_subset_from_gnt_folders_and_zips(tmp_path):
    (tmp_path / "trn").mkdir()
    first = writer_file(tmp_path / "trn" / "1001-c.gnt", 1)
    writer_file(tmp_path / "trn" / "1002-c.gnt", 2)
    test_zip = tmp_path / "HWDB1.1tst_gnt.zip"
    with zipfile.ZipFile(test_zip, "w") as zf:
        zf.writestr("1241-c.gnt", gnt_bytes([(c, bitmap(9)) for c in COURSE_CHARACTERS]))
    out = tmp_path / "casia-55"
    manifest = build_subset(out, train=[tmp_path / "trn"], test=[test_zip])
    assert manifest["images"] == {"Train": 110, "Test": 55}
    assert sorted(p.name for p in (out / "Train").iterdir()) == sorted(COURSE_CHARACTERS)
    assert not (out / "Train" / "的").exists()  # not a course character
    first_png = sorted((out / "Train" / "人").iterdir())[0]
    np.testing.assert_array_equal(np.asarray(Image.open(first_png)), first[0][1])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_missing_characters_leave_nothing_behind(tmp_path):
    (tmp_path / "trn").mkdir()
    (tmp_path / "trn" / "1.gnt").write_bytes(gnt_bytes([("人", bitmap(0))]))
    out = tmp_path / "casia-55"
    with pytest.raises(ValueError, match="no images found for some characters.*Nothing was"):
        build_subset(out, train=[tmp_path / "trn"], test=[tmp_path / "trn"])
    assert list(tmp_path.iterdir()) == [tmp_path / "trn"]


def test_corrupt_gnt_aborts_without_partial_subset(tmp_path):
    (tmp_path / "trn").mkdir()
    writer_file(tmp_path / "trn" / "1.gnt", 1)
    (tmp_path / "trn" / "2.gnt").write_bytes(gnt_bytes([("人", bitmap(0))])[:-1])
    with pytest.raises(GntError, match="2.gnt"):
        build_subset(tmp_path / "out", train=[tmp_path / "trn"], test=[tmp_path / "trn"])
    assert not (tmp_path / "out").exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_zip_holding_an_alz_archive_explains_what_to_do(tmp_path):
    archive = tmp_path / "HWDB1.1trn_gnt.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("HWDB1.1trn_gnt.alz", b"ALZ\x01")
    with pytest.raises(FileNotFoundError, match="unalz"):
        build_subset(tmp_path / "out", train=[archive], test=[archive])


def write_png_export(root, classes, per_class=2):
    for split in ("Train", "Test"):
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(bitmap(i)).save(root / split / c / f"{i}.png")


def test_png_export_with_extra_classes_via_the_command_line(tmp_path, capsys):
    export = tmp_path / "kaggle" / "CASIA-HWDB"
    write_png_export(export, COURSE_CHARACTERS + "的是")
    out = tmp_path / "subset"
    fetch_casia.main(["--png", str(tmp_path / "kaggle"), "--out", str(out)])
    assert "wrote 110 train, 110 test images of 55 characters" in capsys.readouterr().out
    assert len(list((out / "Test").iterdir())) == 55
    assert (out / "dataset.json").is_file()


def test_png_export_without_test_folder(tmp_path):
    (tmp_path / "export" / "Train" / "人").mkdir(parents=True)
    with pytest.raises(SystemExit, match="no Test/ folder found"):
        fetch_casia.main(["--png", str(tmp_path / "export"), "--out", str(tmp_path / "o")])


def test_url_without_checksum_is_refused(tmp_path):
    with pytest.raises(SystemExit, match=r"needs its checksum, as URL#sha256="):
        fetch_casia.main(
            [
                "--train",
                "https://example.org/a.zip",
                "--test",
                "b.zip",
                "--out",
                str(tmp_path / "o"),
            ]
        )


def test_no_source_given(tmp_path):
    with pytest.raises(SystemExit, match="give both --train and --test"):
        fetch_casia.main(["--out", str(tmp_path / "o")])


# ------------------------------------------------------------- hostile and odd inputs


def test_same_named_gnt_files_in_different_folders_are_all_kept(tmp_path):
    for folder, seed in (("HWDB1.0trn", 1), ("HWDB1.1trn", 2)):
        (tmp_path / "trn" / folder).mkdir(parents=True)
        writer_file(tmp_path / "trn" / folder / "1001-c.gnt", seed)  # the same file name
    (tmp_path / "tst").mkdir()
    writer_file(tmp_path / "tst" / "1241-c.gnt", 9)
    out = tmp_path / "casia-55"
    manifest = build_subset(out, train=[tmp_path / "trn"], test=[tmp_path / "tst"])
    on_disk = len(list((out / "Train").glob("*/*.png")))
    assert manifest["images"]["Train"] == on_disk == 110
    first, second = sorted((out / "Train" / "人").iterdir())
    assert not np.array_equal(np.asarray(Image.open(first)), np.asarray(Image.open(second)))


def test_a_source_given_twice_is_refused(tmp_path):
    (tmp_path / "trn").mkdir()
    writer_file(tmp_path / "trn" / "1001-c.gnt", 1)
    with pytest.raises(ValueError, match="given twice"):
        build_subset(
            tmp_path / "out", train=[tmp_path / "trn", tmp_path / "trn"], test=[tmp_path / "trn"]
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trn"]


class RecordingStream(io.BytesIO):
    """A stream that remembers the largest read asked of it (what the reader allocates)."""

    largest = 0

    def read(self, n=-1):
        self.largest = max(self.largest, n)
        return super().read(n)


@pytest.mark.parametrize(
    "width, height, message",
    [(30000, 30000, "claims 30000×30000 pixels, more than 1024"), (1000, 1000, "truncated")],
)
def test_gnt_sizes_are_checked_before_anything_is_allocated(width, height, message):
    header = struct.pack("<I2sHH", 10 + width * height, "人".encode("gbk"), width, height)
    stream = RecordingStream(header + b"\xff" * 100)
    with pytest.raises(GntError, match=message):
        list(read_gnt(stream, "w.gnt"))
    assert stream.largest <= 100  # never more than the file holds


def test_png_export_with_two_folders_for_one_character_names_both(tmp_path):
    export = tmp_path / "export"
    write_png_export(export, COURSE_CHARACTERS)
    compat = "\uf981"  # CJK COMPATIBILITY IDEOGRAPH-F981, which NFC turns into 女
    (export / "Train" / compat).mkdir()
    Image.fromarray(bitmap(5)).save(export / "Train" / compat / "9.png")
    with pytest.raises(SystemExit, match=f"Train/女 and .*Train/{compat} are both the character"):
        fetch_casia.main(["--png", str(export), "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()
