"""A Keras Tuner search spread over processes: one chief and workers talking gRPC (lesson 6).

Keras Tuner runs a search distributed when three environment variables are set in every
process: ``KERASTUNER_TUNER_ID`` (``chief`` for the process that holds the oracle, a unique
name such as ``tuner0`` for each worker), ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT`` (where the chief listens). Every process runs the same search
code: the chief's ``search`` serves the oracle (which hyperparameters to try next, every
score), each worker's ``search`` asks it for a trial, trains, reports, and asks again.

One machine, a chief and two workers (what lesson 6 runs)::

    python -m course_utils.distributed --workers 2

Several machines: the same search code on each, with the variables set by hand::

    # on the chief's machine (it must be reachable on the port):
    KERASTUNER_TUNER_ID=chief KERASTUNER_ORACLE_IP=0.0.0.0 KERASTUNER_ORACLE_PORT=8000 \\
        python -m course_utils.distributed --role
    # on each worker machine, with its own tuner id:
    KERASTUNER_TUNER_ID=tuner1 KERASTUNER_ORACLE_IP=<chief address> KERASTUNER_ORACLE_PORT=8000 \\
        python -m course_utils.distributed --role

Workers write into the same project folder, so across machines it must be a shared folder
(``--directory``). The search (:func:`build_model`) is a small CNN over the lesson's data.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from course_utils.characters import load_characters
from course_utils.config import get_profile
from course_utils.data import stratified_sample, stratified_split
from course_utils.tuning import set_aside_if_damaged, tuner_dir

SETTINGS = {"objective": "val_accuracy", "seed": 42}


def build_model(hp, classes: int):
    """The search space: filters of two convolution blocks, a dense width, a learning rate.

    It compiles its model, which the lessons otherwise do themselves: worker processes must
    import it. Lesson 6 prints its source."""
    import keras
    from keras import layers

    filters = hp.Choice("filters", [8, 16, 32])
    model = keras.Sequential([keras.Input((80, 60, 1)), layers.Rescaling(1 / 255)])
    for _ in range(2):
        model.add(layers.Conv2D(filters, 3, padding="same", activation="relu"))
        model.add(layers.MaxPooling2D(2))
    model.add(layers.Flatten())
    model.add(layers.Dense(hp.Int("dense_units", 32, 128, step=32), activation="relu"))
    model.add(layers.Dense(classes))
    learning_rate = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def default_trials() -> int:
    """The budget when none is given: twice the profile's trials per tuner."""
    return 2 * get_profile().tuner_trials


def project_name(trials: int) -> str:
    """One folder per profile and budget: a finished search is reloaded, not rerun."""
    return f"distributed-{get_profile().name}-{trials}-trials"


def bypass_proxy(host: str) -> None:
    """Add ``host`` to ``no_proxy`` and ``NO_PROXY`` of this process. gRPC sends its
    connections through ``http_proxy`` / ``https_proxy`` when they are set, so behind a
    proxy (or where those variables point at nothing) a worker would never reach the chief
    and would wait without end."""
    for name in ("no_proxy", "NO_PROXY"):
        hosts = [h.strip() for h in os.environ.get(name, "").split(",") if h.strip()]
        if host not in hosts:
            os.environ[name] = ",".join(hosts + [host])


def _search(directory: Path, trials: int) -> None:
    """What every process runs: the chief serves the oracle, a worker trains trials."""
    import keras
    import keras_tuner as kt

    if os.environ.get("KERASTUNER_ORACLE_IP"):
        bypass_proxy(os.environ["KERASTUNER_ORACLE_IP"])  # before gRPC opens a channel

    X, y, names = load_characters("train")
    X_train, X_val, y_train, y_val = stratified_split(X, y, val_fraction=0.2, seed=42)
    X_tr, y_tr = stratified_sample(X_train, y_train, 0.2)
    X_va, y_va = stratified_sample(X_val, y_val, 0.2)
    ran = []

    class Search(kt.RandomSearch):
        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            ran.append(trial.trial_id)

    tuner = Search(
        lambda hp: build_model(hp, len(names)),
        max_trials=trials,
        **SETTINGS,
        directory=str(directory),
        project_name=project_name(trials),
    )
    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=2)
    epochs = min(get_profile().epochs, 5)
    tuner.search(
        X_tr,
        y_tr,
        validation_data=(X_va, y_va),
        epochs=epochs,
        batch_size=64,
        callbacks=[stop],
        verbose=0,
    )
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "tuner0")
    if tuner_id != "chief":
        (directory / project_name(trials) / f"ran-by-{tuner_id}.json").write_text(json.dumps(ran))


def results(folder: str | os.PathLike) -> pd.DataFrame:
    """Every trial of the search in ``folder``: who ran it, its score and hyperparameters."""
    folder = Path(folder)
    ran_by = {}
    for record in folder.glob("ran-by-*.json"):
        for trial_id in json.loads(record.read_text()):
            ran_by[trial_id] = record.stem.removeprefix("ran-by-")
    rows = []
    for path in sorted(folder.glob("trial_*/trial.json")):
        trial = json.loads(path.read_text())
        values = trial["hyperparameters"]["values"]
        rows.append(
            {
                "trial": trial["trial_id"],
                "worker": ran_by.get(trial["trial_id"]),
                "status": trial["status"],
                "val_accuracy": trial["score"],
                **values,
            }
        )
    return pd.DataFrame(rows).set_index("trial") if rows else pd.DataFrame()


def _finished(folder: Path, trials: int) -> bool:
    table = results(folder) if folder.is_dir() else pd.DataFrame()
    return (
        len(table) >= trials and (table.status == "COMPLETED").all() and table.worker.notna().all()
    )


def _free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def launch(workers: int = 2, trials: int | None = None, directory=None, timeout: float = 3600):
    """Start a chief and ``workers`` worker processes on this machine, wait for the search
    to finish and return :func:`results`. A finished search of the same profile and budget
    is reloaded instead; a folder whose trials failed is moved aside and searched again."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    trials = trials or default_trials()
    directory = Path(directory or tuner_dir())
    folder = directory / project_name(trials)
    if _finished(folder, trials):
        print(f"reloaded the finished distributed search in {folder}")
        return results(folder)
    set_aside_if_damaged(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ip, port = "127.0.0.1", _free_port("127.0.0.1")
    command = [
        sys.executable,
        "-m",
        "course_utils.distributed",
        "--role",
        "--trials",
        str(trials),
        "--directory",
        str(directory),
    ]
    processes = {}
    start = time.perf_counter()
    try:
        for tuner_id in ["chief"] + [f"tuner{i}" for i in range(workers)]:
            env = {
                **os.environ,
                "KERASTUNER_TUNER_ID": tuner_id,
                "KERASTUNER_ORACLE_IP": ip,
                "KERASTUNER_ORACLE_PORT": str(port),
            }
            log = folder / f"{tuner_id}.log"
            with open(log, "w") as out:
                processes[tuner_id] = (
                    subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT),
                    log,
                )
        for tuner_id, (process, log) in processes.items():
            left = max(1.0, timeout - (time.perf_counter() - start))
            try:
                process.wait(timeout=left)
            except subprocess.TimeoutExpired:
                raise RuntimeError(
                    f"the distributed search did not finish within {timeout:.0f} s ({tuner_id} "
                    "still running). A worker that cannot reach the chief waits without end: "
                    "check that KERASTUNER_ORACLE_IP is reachable from every worker (a "
                    f"firewall? a proxy?). The end of {log}:\n{_tail(log)}"
                ) from None
            if process.returncode != 0:
                raise RuntimeError(
                    f"the distributed search's {tuner_id} failed (exit code "
                    f"{process.returncode}); the end of its log {log}:\n{_tail(log)}"
                )
    finally:
        for process, _ in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    print(
        f"a chief and {workers} workers ran {trials} trials in "
        f"{time.perf_counter() - start:.0f} s ({folder})"
    )
    return results(folder)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="workers started on this machine")
    parser.add_argument("--trials", type=int, default=None, help="the search's budget")
    parser.add_argument("--directory", type=Path, default=None, help="default: the tuner cache")
    parser.add_argument(
        "--role",
        action="store_true",
        help="run one process of the search, as KERASTUNER_TUNER_ID says",
    )
    args = parser.parse_args(argv)
    if args.role:
        if "KERASTUNER_TUNER_ID" not in os.environ:
            parser.error("--role needs KERASTUNER_TUNER_ID, _ORACLE_IP and _ORACLE_PORT set")
        trials = args.trials or default_trials()
        _search(Path(args.directory or tuner_dir()), trials)
    else:
        print(launch(args.workers, args.trials, args.directory).to_string())


if __name__ == "__main__":
    main()
