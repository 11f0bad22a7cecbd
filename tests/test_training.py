import json
import warnings

import keras
import numpy as np
import pytest

from course_utils.training import cached_fit, fit_key

RNG = np.random.default_rng(0)
X = RNG.random((32, 4)).astype("float32")
Y = (X[:, 0] > 0.5).astype("int64")


def make_model(units=8, lr=1e-2, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(units, activation="relu"), keras.layers.Dense(2)],
        name="net",
    )
    model.compile(
        keras.optimizers.Adam(lr),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def fit(model, tmp_path, **kw):
    settings = {"epochs": 2, "batch_size": 8, "cache_dir": tmp_path / "cache"} | kw
    return cached_fit(model, X, Y, **settings)


def weights_of(model):
    return [np.array(w) for w in model.get_weights()]


def test_second_call_loads_the_same_weights_and_history(tmp_path, capsys):
    first_model = make_model()
    first = fit(first_model, tmp_path, validation_data=(X, Y))
    again_model = make_model()
    again = fit(again_model, tmp_path, validation_data=(X, Y))
    assert not first.from_cache and again.from_cache
    assert again.history == first.history and set(first.history) >= {"loss", "val_accuracy"}
    for a, b in zip(weights_of(first_model), weights_of(again_model), strict=True):
        np.testing.assert_array_equal(a, b)
    out = capsys.readouterr().out
    assert "net: trained 2 epochs" in out and "net: loaded the cached run of 2 epochs" in out


def test_it_forwards_to_model_fit_and_names_the_folder_after_the_model(tmp_path):
    history = fit(make_model(), tmp_path, validation_split=0.25, shuffle=False)
    assert history.cache_folder.parent == tmp_path / "cache" / "net"
    assert "val_loss" in history.history  # validation_split reached model.fit


def test_reload_puts_back_the_checkpoint_this_run_wrote(tmp_path):
    path = tmp_path / "best.weights.h5"

    def checkpoint():
        return keras.callbacks.ModelCheckpoint(path, save_weights_only=True, monitor="loss")

    trained = make_model()
    fit(trained, tmp_path, callbacks=[checkpoint()])
    written = path.read_bytes()
    fit(make_model(lr=1e-3), tmp_path, callbacks=[checkpoint()])  # another run overwrites it
    assert path.read_bytes() != written
    again = fit(make_model(), tmp_path, callbacks=[checkpoint()])
    assert again.from_cache and path.read_bytes() == written
    reloaded = make_model()
    reloaded.load_weights(path)
    for a, b in zip(weights_of(trained), weights_of(reloaded), strict=True):
        np.testing.assert_array_equal(a, b)


def test_entry_without_the_checkpoint_file_is_trained_again(tmp_path):
    callbacks = [keras.callbacks.ModelCheckpoint(tmp_path / "best.keras", monitor="loss")]
    first = fit(make_model(), tmp_path, callbacks=callbacks)
    (first.cache_folder / "checkpoints" / "0-best.keras").unlink()
    with pytest.warns(UserWarning, match="does not hold the checkpoint"):
        again = fit(make_model(), tmp_path, callbacks=callbacks)
    assert not again.from_cache and (again.cache_folder / "checkpoints" / "0-best.keras").is_file()


def schedule_a(epoch, lr):
    return lr


def schedule_b(epoch, lr):
    return lr * 0.5


@pytest.mark.parametrize(
    "change",
    [
        {"model": lambda: make_model(units=9)},  # architecture
        {"model": lambda: make_model(lr=1e-3)},  # optimizer setting
        {"model": lambda: make_model(seed=1)},  # initial weights
        {"fit": {"epochs": 3}},
        {"fit": {"batch_size": 4}},
        {"fit": {"callbacks": [keras.callbacks.EarlyStopping(monitor="loss", patience=1)]}},
        {"fit": {"callbacks": [keras.callbacks.LearningRateScheduler(schedule_b)]}},
        {"fit": {"class_weight": {0: 1.0, 1: 2.0}}},
        {"data": True},
    ],
    ids=[
        "architecture",
        "learning-rate",
        "initial-weights",
        "epochs",
        "batch-size",
        "callbacks",
        "schedule-function",
        "class-weight",
        "data",
    ],
)
def test_any_change_retrains_instead_of_loading_a_stale_entry(tmp_path, change):
    fit(make_model(), tmp_path, callbacks=[keras.callbacks.LearningRateScheduler(schedule_a)])
    model = change.get("model", make_model)()
    kw = {"callbacks": [keras.callbacks.LearningRateScheduler(schedule_a)]}
    kw |= change.get("fit", {})
    if change.get("data"):
        result = cached_fit(
            model,
            X[::-1].copy(),
            Y[::-1].copy(),
            epochs=2,
            batch_size=8,
            cache_dir=tmp_path / "cache",
            **kw,
        )
    else:
        result = fit(model, tmp_path, **kw)
    assert not result.from_cache
    assert len(list((tmp_path / "cache" / "net").iterdir())) == 2  # old entry kept, not reused


def test_key_sees_every_row_of_a_large_sample_weight():
    x = np.zeros((3000, 4), "float32")
    y = np.zeros(3000, "int64")
    w = np.ones(3000)
    changed = w.copy()
    changed[1500] = 2.0  # hidden in the middle, where a truncated repr shows "..."
    model = make_model()
    assert fit_key(model, x, y, sample_weight=w) != fit_key(model, x, y, sample_weight=changed)


def test_key_ignores_automatic_layer_names_callback_state_and_verbose():
    es = keras.callbacks.EarlyStopping(monitor="loss", patience=2)
    key = fit_key(make_model(), X, Y, epochs=1, callbacks=[es])
    es.wait, es.best = 5, 0.1  # run state left by an earlier fit
    assert fit_key(make_model(), X, Y, epochs=1, callbacks=[es]) == key  # dense_1, adam_1 ...
    assert fit_key(make_model(), X, Y, epochs=1, callbacks=[es], verbose=2) == key


def test_uncompiled_model_is_rejected(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="compile"):
        cached_fit(model, X, Y, epochs=1, cache_dir=tmp_path)


@pytest.mark.parametrize("name", ["a/b", "..", ".hidden"])
def test_bad_names_are_rejected(tmp_path, name):
    with pytest.raises(ValueError, match="plain folder name"):
        cached_fit(make_model(), X, Y, name=name, epochs=1, cache_dir=tmp_path)


def test_damaged_entry_is_retrained_from_the_initial_weights(tmp_path):
    first = fit(make_model(), tmp_path)
    untrained = weights_of(make_model())
    (first.cache_folder / "model.weights.h5").write_bytes(b"not hdf5")
    model = make_model()
    seen = []
    real_fit = model.fit

    def spy_fit(*args, **kwargs):
        seen.append(weights_of(model))
        return real_fit(*args, **kwargs)

    model.fit = spy_fit
    with pytest.warns(UserWarning, match="damaged cache entry"):
        result = fit(model, tmp_path)
    assert not result.from_cache
    for a, b in zip(seen[0], untrained, strict=True):
        np.testing.assert_array_equal(a, b)


def test_damaged_entry_is_rewritten_and_then_loads(tmp_path):
    first = fit(make_model(), tmp_path)
    (first.cache_folder / "model.weights.h5").write_bytes(b"not hdf5")
    with pytest.warns(UserWarning, match="damaged cache entry"):
        assert not fit(make_model(), tmp_path).from_cache
    assert fit(make_model(), tmp_path).from_cache


def test_entry_whose_meta_names_another_key_is_not_loaded(tmp_path):
    first = fit(make_model(), tmp_path)
    meta = first.cache_folder / "meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "key": "something-else"}))
    with pytest.warns(UserWarning, match="expected"):
        assert not fit(make_model(), tmp_path).from_cache


def test_interrupted_write_leaves_no_entry(tmp_path, monkeypatch):
    model = make_model()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(model, "save_weights", fail)
    with pytest.warns(UserWarning, match="could not write the training cache"):
        fit(model, tmp_path)
    leftovers = list((tmp_path / "cache" / "net").iterdir())
    assert leftovers == []  # neither a half entry nor a temporary folder


def test_unwritable_cache_folder_still_returns_a_trained_model(tmp_path):
    # A file where the cache folder should be cannot be written by anyone, root included
    # (chmod alone does not stop root, who runs CI here).
    blocker = tmp_path / "cache"
    blocker.write_text("I am a file")
    model = make_model()
    before = weights_of(model)
    with pytest.warns(UserWarning, match="COURSE_HOME"):
        history = fit(model, tmp_path)
    assert len(history.history["loss"]) == 2 and not history.from_cache
    assert any(not np.array_equal(a, b) for a, b in zip(before, weights_of(model), strict=True))


def test_default_cache_dir_follows_course_home(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_HOME", str(tmp_path / "home"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        history = cached_fit(make_model(), X, Y, epochs=1)
    assert history.cache_folder.is_relative_to(tmp_path / "home" / "cache" / "models" / "net")


def test_progress_line_per_epoch_only_when_run_interactively(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    fit(make_model(), tmp_path, validation_data=(X, Y))
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines[:2]] == ["net: epoch 1/2", "net: epoch 2/2"]
    assert "val_accuracy" in lines[0] and lines[2].startswith("net: trained 2 epochs")
    monkeypatch.setenv("TQDM_DISABLE", "1")  # the course's build and tests: the summary only
    fit(make_model(seed=1), tmp_path, validation_data=(X, Y))
    assert capsys.readouterr().out.startswith("net: trained 2 epochs")
    # the progress callback is not part of the key: the first run is reloaded either way
    monkeypatch.delenv("TQDM_DISABLE")
    assert fit(make_model(), tmp_path, validation_data=(X, Y)).from_cache
