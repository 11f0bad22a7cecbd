"""The distributed Keras Tuner search: a real chief and two workers over gRPC on one machine."""

from __future__ import annotations

import json

import pytest
from conftest import write_characters

from course_utils import distributed


def test_a_chief_and_two_workers_share_one_search_and_a_rerun_reloads_it(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setenv("COURSE_DATA_DIR", str(write_characters(tmp_path / "data")))
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
