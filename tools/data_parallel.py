"""Train lesson 4's CNN with ``keras.distribution.DataParallel`` on every device JAX sees.

Data parallelism keeps one copy of the weights on each device and splits every batch
between them; after each step the gradients are averaged, so all copies stay equal and the
result is the same model a single device would train (up to floating-point order). Keras
does it on the JAX backend with two lines before the model is built::

    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))

Run it with the JAX backend; the GPU workflow does::

    KERAS_BACKEND=jax python -m tools.data_parallel

On a machine without several GPUs, ask XLA for two CPU devices to see the split::

    XLA_FLAGS=--xla_force_host_platform_device_count=2 KERAS_BACKEND=jax \\
        python -m tools.data_parallel --epochs 1

Several machines: call ``keras.distribution.initialize(...)`` on each first (setup.qmd).
"""

from __future__ import annotations

import argparse
import time

from course_utils.characters import load_characters
from course_utils.config import get_profile, import_keras_quietly
from course_utils.models import character_cnn


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: the profile's")
    parser.add_argument("--per-device-batch", type=int, default=64)
    args = parser.parse_args(argv)
    keras = import_keras_quietly()
    if keras.backend.backend() != "jax":
        raise SystemExit(
            f"DataParallel needs the JAX backend here, not {keras.backend.backend()}: "
            "run it with KERAS_BACKEND=jax"
        )
    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    X, y, names = load_characters("train")
    X_test, y_test, _ = load_characters("test")
    keras.utils.set_random_seed(42)
    model = character_cnn(len(names))
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    batch = args.per_device_batch * len(devices)  # each device gets per_device_batch images
    epochs = args.epochs or min(get_profile().epochs, 10)
    start = time.perf_counter()
    model.fit(X, y, epochs=epochs, batch_size=batch, verbose=0)
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(X_test, y_test, batch_size=batch, verbose=0)
    kernel = model.layers[1].kernel.value  # the first convolution's weights
    placed = sorted(str(d) for d in kernel.sharding.device_set)
    print(f"{len(devices)} device(s): {', '.join(devices)}")
    print(f"batches of {batch} split {args.per_device_batch} per device; {epochs} epochs in "
          f"{seconds:.0f} s; test accuracy {accuracy:.3f}")  # fmt: skip
    print(f"the first convolution's weights are replicated on: {', '.join(placed)}")
    return {"devices": len(devices), "replicas": len(placed), "accuracy": float(accuracy)}


if __name__ == "__main__":
    main()
