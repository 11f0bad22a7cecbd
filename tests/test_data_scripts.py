"""The smaller data scripts: vendoring the stroke data, grids, the data bench, realism table."""

from __future__ import annotations

import io
import json
import re
import tarfile
import zipfile
from pathlib import Path

import pytest

from course_utils import synthetic as sy
from course_utils.characters import COURSE_CHARACTERS
from data_scripts import (
    bench_data,
    measure_realism,
    preview_handwriting,
    vendor_hanzi_data,
    vendor_imagenet_classes,
)

pytestmark = pytest.mark.backend_free  # no Keras here: skipped on JAX and torch

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "course_utils" / "vendor"


def fake_npm_tarball(path, chars, version="9.9.9"):
    with tarfile.open(path, "w:gz") as tf:

        def add(name, data: bytes):
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))

        add("package.json", json.dumps({"version": version}).encode())
        add("ARPHICPL.TXT", b"ARPHIC PUBLIC LICENSE\n")
        for i, c in enumerate(chars):
            add(
                f"{c}.json",
                json.dumps({"strokes": ["M 0 0"], "medians": [[[i, 0], [9, 9]]]}).encode(),
            )
    return path


def test_other_characters_are_common_and_not_course_characters():
    others = vendor_hanzi_data.other_characters()
    level1 = vendor_hanzi_data.gb2312_level1()
    assert len(level1) == 3755 and len(others) == 1000 == len(set(others))
    assert set(others) <= set(level1) and not set(others) & set(COURSE_CHARACTERS)


def test_vendoring_keeps_medians_notice_and_licence(tmp_path):
    chars = COURSE_CHARACTERS + "".join(vendor_hanzi_data.other_characters())
    tarball = fake_npm_tarball(tmp_path / "pkg.tgz", chars)
    vendor_hanzi_data.main(["--tarball", str(tarball), "--out", str(tmp_path / "out")])
    doc = json.loads((tmp_path / "out" / "hanzi_medians.json").read_text())
    assert doc["source"] == "hanzi-writer-data@9.9.9" and "Arphic Public License" in doc["notice"]
    assert doc["medians"]["人"] == [[[0, 0], [9, 9]]]
    assert (tmp_path / "out" / "ARPHICPL.TXT").read_text().startswith("ARPHIC PUBLIC LICENSE")


def test_vendoring_names_a_missing_character(tmp_path):
    tarball = fake_npm_tarball(tmp_path / "pkg.tgz", "人")
    with pytest.raises(SystemExit, match="has no data for '从'"):
        vendor_hanzi_data.main(["--tarball", str(tarball), "--out", str(tmp_path / "out")])


def test_vendored_file_is_packaged_with_its_licence_and_notice():
    import tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "vendor/*" in pyproject["tool"]["setuptools"]["package-data"]["course_utils"]
    doc = json.loads((VENDOR / "hanzi_medians.json").read_text(encoding="utf-8"))
    assert doc["course_characters"] == COURSE_CHARACTERS
    assert "Modified on" in doc["notice"] and len(doc["medians"]) == 1055
    assert "ARPHIC PUBLIC LICENSE" in (VENDOR / "ARPHICPL.TXT").read_text()


def test_preview_grids_are_written(tmp_path):
    paths = preview_handwriting.save_grids(tmp_path, chars="人口")
    assert [p.name for p in paths] == ["synthetic-train.png", "synthetic-messy.png"]
    assert all(p.stat().st_size > 5000 for p in paths)


def test_writer_samples_match_the_generated_files(tmp_path):
    import numpy as np
    from PIL import Image

    root = sy.generate_synthetic(
        tmp_path / "s", {"Messy": (2, 2)}, "口", processes=1, progress=False
    )
    (second,) = sy.writer_samples("口", [2], "Messy")
    np.testing.assert_array_equal(np.asarray(Image.open(root / "Messy/口/messy-0002.png")), second)


def test_bench_reports_each_step(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setitem(
        sy.SYNTHETIC_WRITERS, "smoke", {"Train": (1, 1), "Test": (1, 1), "Messy": (1, 1)}
    )
    home = Path.cwd()
    bench_data.main()
    out = capsys.readouterr().out
    assert re.search(r"generate +\d+\.\d s", out) and "load from cache" in out
    assert "train split 55 images" in out
    assert Path.cwd() == home


def test_realism_table_in_readme_was_measured_and_meets_the_bars():
    text = (ROOT / "data_scripts" / "README.md").read_text(encoding="utf-8")
    table = text.split(measure_realism.START)[1].split(measure_realism.END)[0]
    assert "| CNN | Test |" in table and "| logistic regression | Test |" in table
    assert "**no**" not in table and table.count("| yes |") == 3


def test_realism_writes_only_between_the_markers(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{measure_realism.START}\nold\n{measure_realism.END}\nafter\n")
    monkeypatch.setattr(measure_realism, "README", readme)
    monkeypatch.setattr(measure_realism, "measure", lambda: ("| new |", {"bar": True}))
    measure_realism.main(["--readme"])
    assert readme.read_text() == (
        f"before\n{measure_realism.START}\n| new |\n{measure_realism.END}\nafter\n"
    )
    monkeypatch.setattr(measure_realism, "measure", lambda: ("| t |", {"bar": False}))
    with pytest.raises(SystemExit, match="not met"):
        measure_realism.main([])


def test_make_synthetic_cli(tmp_path, monkeypatch, capsys):
    from data_scripts import make_synthetic

    monkeypatch.setitem(
        sy.SYNTHETIC_WRITERS, "smoke", {"Train": (1, 1), "Test": (1, 1), "Messy": (1, 1)}
    )
    make_synthetic.main(
        ["--profile", "smoke", "--out", str(tmp_path / "s"), "--seed", "3", "--processes", "1"]
    )
    assert "55 Train, 55 Test, 55 Messy images" in capsys.readouterr().out
    assert len(list((tmp_path / "s" / "Messy").rglob("*.png"))) == 55
    make_synthetic.main(["--profile", "smoke"])  # the course's own set, in COURSE_HOME
    assert (sy.synthetic_root("smoke") / "dataset.json").is_file()
    with pytest.raises(SystemExit):
        make_synthetic.main(["--seed", "3"])


def fake_keras_hub_wheel(path, table: str):
    with zipfile.ZipFile(path, "w") as z:
        source = f"from keras import ops\n\nIMAGENET_NAMES = {table}\n"
        z.writestr(vendor_imagenet_classes.MEMBER, source)
    return path


def test_imagenet_classes_are_read_from_the_wheel_without_running_it(tmp_path):
    table = "{" + ", ".join(f'{i}: ("n{i:08d}", "class{i}")' for i in range(1000)) + "}"
    wheel = fake_keras_hub_wheel(tmp_path / "keras_hub-9.9.9-py3-none-any.whl", table)
    vendor_imagenet_classes.main(["--wheel", str(wheel), "--out", str(tmp_path / "c.json")])
    index = json.loads((tmp_path / "c.json").read_text())
    assert len(index) == 1000 and index["7"] == ["n00000007", "class7"]


def test_imagenet_classes_refuses_an_incomplete_table(tmp_path):
    wheel = fake_keras_hub_wheel(tmp_path / "k.whl", '{0: ("n0", "tench")}')
    with pytest.raises(ValueError, match="expected classes 0..999"):
        vendor_imagenet_classes.read_class_index(wheel)
    with zipfile.ZipFile(tmp_path / "k3.whl", "w") as z:
        z.writestr(vendor_imagenet_classes.MEMBER, "OTHER = 1\n")
    with pytest.raises(ValueError, match="no IMAGENET_NAMES"):
        vendor_imagenet_classes.read_class_index(tmp_path / "k3.whl")


def test_vendored_imagenet_classes_match_keras_names():
    index = json.loads((VENDOR / "imagenet_class_index.json").read_text(encoding="utf-8"))
    assert len(index) == 1000
    assert index["0"] == ["n01440764", "tench"] and index["999"][1] == "toilet_tissue"
