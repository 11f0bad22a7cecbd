"""The distributed Keras Tuner search: a real chief and two workers over gRPC on one machine."""

from __future__ import annotations

import json
import os

import pytest
from conftest import write_characters

from course_utils import distributed


def test_a_chief_and_two_workers_share_one_search_and_a_rerun_reloads_it(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setenv("COURSE_DATA_DIR", str(write_characters(tmp_path / "data")))
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):  # a dead proxy,
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # as offline Kaggle runs may have
    table = distributed.launch(workers=2, trials=4, directory=tmp_path / "tuner")
    assert len(table) == 4 and (table.status == "COMPLETED").all()
    assert set(table.worker) == {"tuner0", "tuner1"}  # both workers trained trials
    assert table.val_accuracy.between(0, 1).all()
    assert {"filters", "dense_units", "learning_rate"} <= set(table.columns)
    assert "ran 4 trials" in capsys.readouterr().out
    again = distributed.launch(workers=2, trials=4, directory=tmp_path / "tuner")
    assert "reloaded the finished distributed search" in capsys.readouterr().out
    assert again.equals(table)


def test_a_search_with_a_failed_trial_is_set_aside_not_reloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    folder = tmp_path / distributed.project_name(2)
    (folder / "trial_0").mkdir(parents=True)
    trial = {"trial_id": "0", "status": "FAILED", "score": None,
             "hyperparameters": {"values": {"filters": 8}}}  # fmt: skip
    (folder / "trial_0" / "trial.json").write_text(json.dumps(trial))
    assert not distributed._finished(folder, 2)
    assert distributed.results(folder).loc["0", "status"] == "FAILED"


def test_bad_arguments_get_a_clear_message(monkeypatch):
    with pytest.raises(ValueError, match="workers must be at least 1"):
        distributed.launch(workers=0)
    monkeypatch.delenv("KERASTUNER_TUNER_ID", raising=False)
    with pytest.raises(SystemExit):
        distributed.main(["--role"])


def test_bypass_proxy_adds_the_host_once_and_keeps_the_others(monkeypatch):
    monkeypatch.setenv("no_proxy", "example.com, .internal")
    monkeypatch.delenv("NO_PROXY", raising=False)
    distributed.bypass_proxy("127.0.0.1")
    distributed.bypass_proxy("127.0.0.1")
    assert os.environ["no_proxy"] == "example.com,.internal,127.0.0.1"
    assert os.environ["NO_PROXY"] == "127.0.0.1"


def test_a_search_that_never_finishes_stops_with_a_clear_message(tmp_path, monkeypatch):
    hang = tmp_path / "hang"  # stands in for Python: every role waits, as if unreachable
    hang.write_text("#!/bin/sh\nsleep 60\n")
    hang.chmod(0o755)
    monkeypatch.setattr(distributed.sys, "executable", str(hang))
    monkeypatch.setattr(distributed, "_finished", lambda folder, trials: False)
    with pytest.raises(RuntimeError, match="did not finish within 2 s.*cannot reach the chief"):
        distributed.launch(workers=1, trials=1, directory=tmp_path, timeout=2)
