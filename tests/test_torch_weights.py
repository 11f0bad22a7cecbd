"""course_utils.torch_weights: the checkpoint reader reads legacy PyTorch state dicts, agrees
with torch.load where PyTorch is installed, and refuses anything but weights."""

from __future__ import annotations

import importlib.util
import pickle
import zipfile

import numpy as np
import pytest

from course_utils.lite0 import checkpoint_path
from course_utils.torch_weights import LEGACY_MAGIC, read_torch_weights


def _legacy_file(path, state, storages, header=(LEGACY_MAGIC, 1001, {"little_endian": True})):
    """A file in PyTorch's legacy layout: magic, protocol, sys info, pickled state, keys,
    then each storage as int64 count + raw bytes."""
    with open(path, "wb") as f:
        for value in header:
            f.write(value if isinstance(value, bytes) else pickle.dumps(value, protocol=2))
        f.write(state)
        pickle.dump(list(storages), f, protocol=2)
        for array in storages.values():
            f.write(np.int64(array.size).tobytes() + array.tobytes())


def _state_pickle(
    global_module="torch._utils",
    global_name="_rebuild_tensor_v2",
    shape=(2, 3),
    stride=(3, 1),
    offset=0,
):
    """Pickle bytes of {'w': tensor(storage '0', offset, shape, stride)}, written by hand
    because the test must not need PyTorch (shape and stride: two small ints each)."""
    persistent = (
        b"(X\x07\x00\x00\x00storageq\x00ctorch\nFloatStorage\n"
        b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x06Ntq\x01"
    )
    rebuild = f"c{global_module}\n{global_name}\n".encode()
    layout = bytes(
        [
            ord("K"),
            offset,
            ord("K"),
            shape[0],
            ord("K"),
            shape[1],
            0x86,
            ord("K"),
            stride[0],
            ord("K"),
            stride[1],
            0x86,
        ]
    )
    return (
        b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01"
        + rebuild
        + b"("
        + persistent
        + b"Q"
        + layout
        + b"\x89N"
        + b"tR"
        + b"s."
    )


def test_reads_a_legacy_state_dict(tmp_path):
    values = np.arange(6, dtype=np.float32)
    _legacy_file(tmp_path / "w.pth", _state_pickle(), {"0": values})
    state = read_torch_weights(tmp_path / "w.pth")
    np.testing.assert_array_equal(state["w"], values.reshape(2, 3))
    _legacy_file(tmp_path / "t.pth", _state_pickle(stride=(1, 2)), {"0": values})
    transposed = read_torch_weights(tmp_path / "t.pth")["w"]  # a strided view of the storage
    np.testing.assert_array_equal(transposed, values.reshape(3, 2).T)


def test_refuses_code_and_truncated_or_zip_files(tmp_path):
    values = np.arange(6, dtype=np.float32)
    _legacy_file(tmp_path / "evil.pth", _state_pickle("os", "system"), {"0": values})
    with pytest.raises(ValueError, match="os.system is not allowed"):
        read_torch_weights(tmp_path / "evil.pth")
    _legacy_file(tmp_path / "short.pth", _state_pickle(), {"0": values})
    data = (tmp_path / "short.pth").read_bytes()
    (tmp_path / "short.pth").write_bytes(data[:-8])
    with pytest.raises(ValueError, match="truncated"):
        read_torch_weights(tmp_path / "short.pth")
    with zipfile.ZipFile(tmp_path / "new.pth", "w") as z:
        z.writestr("archive/data.pkl", b"")
    with pytest.raises(ValueError, match="zip-format"):
        read_torch_weights(tmp_path / "new.pth")


class _RunsCode:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_refuses_code_in_the_header(tmp_path, capsys):
    values = np.arange(6, dtype=np.float32)
    evil_header = (LEGACY_MAGIC, 1001, pickle.dumps(_RunsCode(), protocol=2))
    _legacy_file(tmp_path / "evil.pth", _state_pickle(), {"0": values}, header=evil_header)
    with pytest.raises(ValueError, match="print is not allowed"):
        read_torch_weights(tmp_path / "evil.pth")
    assert "must never run" not in capsys.readouterr().out
    _legacy_file(
        tmp_path / "magic.pth",
        _state_pickle(),
        {"0": values},
        header=(pickle.dumps(_RunsCode(), protocol=2),),
    )
    with pytest.raises(ValueError, match="not allowed"):
        read_torch_weights(tmp_path / "magic.pth")
    assert "must never run" not in capsys.readouterr().out


class _WritesAFile:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("record", ["magic", "protocol", "system information", "storage keys"])
def test_a_record_whose_reduce_would_write_a_file_writes_nothing(tmp_path, record):
    flag = tmp_path / "written-by-the-weights-file"
    evil = pickle.dumps(_WritesAFile(flag), protocol=2)
    path = tmp_path / "evil.pth"
    header = [LEGACY_MAGIC, 1001, {"little_endian": True}]
    if record != "storage keys":
        header[["magic", "protocol", "system information"].index(record)] = evil
    _legacy_file(path, _state_pickle(), {"0": np.arange(6, dtype=np.float32)}, header=header)
    if record == "storage keys":  # replace the pickled key list after the state dict
        data = path.read_bytes()
        keys = pickle.dumps(["0"], protocol=2)
        path.write_bytes(data.replace(keys, evil, 1))
    with pytest.raises(ValueError, match="is not allowed in a weights file"):
        read_torch_weights(path)
    assert not flag.exists()


@pytest.mark.parametrize(
    "layout",
    [
        {"shape": (2, 3), "stride": (3, 1), "offset": 1},  # one element past the end
        {"shape": (3, 3), "stride": (3, 1), "offset": 0},  # more elements than stored
        {"shape": (200, 200), "stride": (0, 0), "offset": 0},  # a huge view of one element
    ],
)
def test_refuses_tensors_outside_their_storage(tmp_path, layout):
    _legacy_file(
        tmp_path / "oob.pth", _state_pickle(**layout), {"0": np.arange(6, dtype=np.float32)}
    )
    with pytest.raises(ValueError, match="tensor"):
        read_torch_weights(tmp_path / "oob.pth")


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch not installed")
def test_reader_agrees_with_torch_load():
    import torch

    path = checkpoint_path()
    ours = read_torch_weights(path)
    theirs = torch.load(path, map_location="cpu", weights_only=True)
    assert ours.keys() == theirs.keys()
    assert all(np.array_equal(ours[k], theirs[k].numpy()) for k in ours)


@pytest.mark.parametrize(
    "damage",
    [
        "storage count",  # an element count of 2**40 in a file of a few hundred bytes
        "pickle length",  # a BINUNICODE string said to be 4 GB long
        "memo index",  # a LONG_BINPUT to slot 2**32 - 1 (the memo would grow to fit it)
    ],
)
def test_lengths_are_checked_against_the_file_before_anything_is_allocated(tmp_path, damage):
    import tracemalloc

    values = np.arange(6, dtype=np.float32)
    _legacy_file(tmp_path / "w.pth", _state_pickle(), {"0": values})
    data = bytearray((tmp_path / "w.pth").read_bytes())
    if damage == "storage count":
        data[-32:-24] = np.int64(2**40).tobytes()
    elif damage == "pickle length":
        at = data.index(b"X\x07\x00\x00\x00storage")
        data[at + 1 : at + 5] = (2**32 - 16).to_bytes(4, "little")
    else:
        at = data.index(b"q\x01")  # the first BINPUT 1 (in the header's dict)
        data[at : at + 2] = b"r\xff\xff\xff\xff"  # LONG_BINPUT 4294967295
    (tmp_path / "w.pth").write_bytes(bytes(data))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="cannot read"):
            read_torch_weights(tmp_path / "w.pth")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000
