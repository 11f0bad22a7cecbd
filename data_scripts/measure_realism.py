"""Measure whether the characters data keeps the course's teaching points true.

Trains the two models of lesson 4 (logistic regression and the small CNN, SYLLABUS §4)
on the Train split with an 80/20 validation split, evaluates them on Test and Messy, and
checks the bars of the data issue:

- the CNN beats logistic regression on Test by at least 25 points of accuracy;
- logistic regression stays well below 90% on Test;
- the CNN loses at least 10 points of accuracy on Messy compared with Test.

It prints a Markdown table and, with ``--readme``, writes it into
``data_scripts/README.md`` between the ``realism`` markers. Models are trained once and
cached (``course_utils.training.cached_fit``, with lesson 4's recipe and seed), so a second
run only evaluates and shares lesson 4's cached models.

    COURSE_PROFILE=full python data_scripts/measure_realism.py --readme
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np

README = Path(__file__).with_name("README.md")
START, END = "<!-- realism:start -->", "<!-- realism:end -->"


def evaluate(model, X, y, from_logits):
    from course_utils.evaluation import predict_probabilities, top_k_accuracy

    prob = predict_probabilities(model, X, from_logits)
    loss = float(-np.mean(np.log(np.clip(prob[np.arange(len(y)), y], 1e-12, 1))))
    pred = prob.argmax(axis=1)
    return {
        "accuracy": float(np.mean(pred == y)),
        "top5": top_k_accuracy(y, prob, 5),
        "loss": loss,
        "pred": pred,
    }


def measure() -> tuple[str, dict]:
    from course_utils import setup
    from course_utils.characters import find_characters, load_characters
    from course_utils.config import import_keras_quietly
    from course_utils.data import image_sizes, stratified_split
    from course_utils.evaluation import most_confused_pairs
    from course_utils.handwriting import GENERATOR_VERSION
    from course_utils.models import character_cnn, logistic_regression
    from course_utils.training import cached_fit

    keras = import_keras_quietly()

    profile = setup()
    X, y, names = load_characters("train")
    X_test, y_test, _ = load_characters("test")
    X_messy, y_messy, _ = load_characters("messy")
    X_train, X_val, y_train, y_val = stratified_split(X, y, 0.2, seed=42)

    rows, results = [], {}
    for label, build, logits in [
        ("logistic regression", logistic_regression, False),
        ("CNN", character_cnn, True),
    ]:
        keras.utils.set_random_seed(42)  # lesson 4's seed, recipe and arguments: its cache
        model = build(len(names))
        model.compile(
            optimizer="adam",
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=logits),
            metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5")],
        )
        stop = keras.callbacks.EarlyStopping(
            monitor="val_accuracy", patience=profile.patience, restore_best_weights=True
        )
        start = time.perf_counter()
        history = cached_fit(
            model,
            X_train,
            y_train,
            validation_data=(X_val, y_val),
            epochs=profile.epochs,
            batch_size=64,
            callbacks=[stop],
        )
        seconds = time.perf_counter() - start
        epochs = len(history.history["loss"])
        for split, (Xs, ys) in {"Test": (X_test, y_test), "Messy": (X_messy, y_messy)}.items():
            r = evaluate(model, Xs, ys, logits)
            results[(label, split)] = r
            rows.append(
                f"| {label} | {split} | {len(ys):,} | {r['accuracy']:.3f} | "
                f"{r['top5']:.3f} | {r['loss']:.2f} | {epochs} |"
            )
        how = "loaded from cache" if history.from_cache else f"trained in {seconds:.0f} s"
        print(f"{label}: {epochs} epochs, {how}")

    lr_test = results[("logistic regression", "Test")]["accuracy"]
    cnn_test = results[("CNN", "Test")]["accuracy"]
    cnn_messy = results[("CNN", "Messy")]["accuracy"]
    checks = {
        "CNN − logistic regression on Test ≥ 0.25": cnn_test - lr_test >= 0.25,
        "logistic regression on Test < 0.80 (well below 90%)": lr_test < 0.80,
        "CNN on Test − CNN on Messy ≥ 0.10": cnn_test - cnn_messy >= 0.10,
    }
    pairs = most_confused_pairs(y_test, results[("CNN", "Test")]["pred"], names, n=10)
    pair_text = ", ".join(f"{t}→{p} ({c})" for t, p, c in pairs.itertuples(index=False))
    source = find_characters()
    sizes = image_sizes(source.root / "Train")
    low, high = sizes.height.quantile([0.05, 0.95])
    size_text = (
        f"Train images before resizing: height {sizes.height.mean():.0f} px on average (90% "
        f"between {low:.0f} and {high:.0f}), width {sizes.width.mean():.0f} px; "
        f"{(sizes.height > sizes.width).mean():.0%} are taller than wide."
    )
    table = "\n".join(
        [
            f"Measured by `data_scripts/measure_realism.py` on {source.label.split(' in ')[0]} "
            f"(generator version {GENERATOR_VERSION}, profile `{profile.name}`, seed 42 for the "
            f"split and the weights), {len(X_train):,} training and {len(X_val):,} validation "
            "images.",
            "",
            "| model | evaluated on | images | accuracy | top-5 | loss | epochs |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            "| bar | met |",
            "| --- | --- |",
            *(f"| {k} | {'yes' if v else '**no**'} |" for k, v in checks.items()),
            "",
            f"Most confused pairs of the CNN on Test (true→predicted, count): {pair_text}.",
            "",
            size_text,
        ]
    )
    return table, checks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help=f"write the table into {README}")
    args = parser.parse_args(argv)
    table, checks = measure()
    print(table)
    if args.readme:
        text = README.read_text(encoding="utf-8")
        pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
        if not pattern.search(text):
            raise SystemExit(f"{README} has no {START} ... {END} section to fill")
        README.write_text(pattern.sub(lambda _: f"{START}\n{table}\n{END}", text), encoding="utf-8")
        print(f"wrote the table into {README}")
    if not all(checks.values()):
        raise SystemExit("some realism bars are not met: tune course_utils/handwriting.py")


if __name__ == "__main__":
    main()
