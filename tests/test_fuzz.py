"""The binary readers fuzzed with Hypothesis (issue 14): random truncations and byte flips of a
valid file raise only the documented error, never crash, hang or allocate past a bound."""

from __future__ import annotations

import io
import pickle
import tracemalloc

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fetch_casia import RecordingStream, bitmap, gnt_bytes
from test_torch_weights import _state_pickle

from course_utils.torch_weights import LEGACY_MAGIC, read_torch_weights
from data_scripts.fetch_casia import MAX_SIDE, GntError, read_gnt

# Bounded: about 150 files per reader, each well under a second (no saved example database,
# so the working tree stays clean).
FUZZ = settings(
    max_examples=150,
    deadline=1000,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@st.composite
def damaged(draw, valid: bytes) -> bytes:
    """``valid`` with up to 8 bytes flipped, then maybe cut short."""
    blob = bytearray(valid)
    for _ in range(draw(st.integers(0, 8))):
        blob[draw(st.integers(0, len(blob) - 1))] ^= draw(st.integers(1, 255))
    cut = draw(st.integers(0, len(blob)))
    return bytes(blob[:cut] if draw(st.booleans()) else blob)


GNT = gnt_bytes([("人", bitmap(0, (3, 4))), ("口", bitmap(1, (5, 2))), ("啖", bitmap(2, (2, 2)))])


class Unseekable(RecordingStream):
    def seekable(self):
        return False


@FUZZ
@given(blob=damaged(GNT), seekable=st.booleans())
def test_gnt_reader_raises_only_gnt_error_and_reads_within_bounds(blob, seekable):
    stream = (RecordingStream if seekable else Unseekable)(blob)
    try:
        samples = list(read_gnt(stream, "fuzz.gnt"))
    except GntError:
        samples = []
    assert all(b.dtype == np.uint8 and max(b.shape) <= MAX_SIDE for _, b in samples)
    assert stream.largest <= (max(len(blob), 10) if seekable else MAX_SIDE**2)  # 10: a header


PTH = io.BytesIO()
_header = (LEGACY_MAGIC, 1001, {"little_endian": True, "type_sizes": {"int": 4, "long": 8}})
for _value in _header:
    pickle.dump(_value, PTH, protocol=2)
PTH.write(_state_pickle())
pickle.dump(["0"], PTH, protocol=2)
PTH.write(np.int64(6).tobytes() + np.arange(6, dtype=np.float32).tobytes())
PTH = PTH.getvalue()


@FUZZ
@given(blob=damaged(PTH))
def test_pth_reader_raises_only_value_error_and_allocates_within_bounds(tmp_path, blob):
    path = tmp_path / "fuzz.pth"
    path.write_bytes(blob)
    tracemalloc.start()
    try:
        state = read_torch_weights(path)
    except ValueError:
        state = {}
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert all(isinstance(a, np.ndarray) and a.size <= 6 for a in state.values())
    assert peak < 1_000_000  # a few kB of file: no length taken on trust


def test_the_fuzzed_files_are_valid_to_begin_with(tmp_path):
    assert [c for c, _ in read_gnt(io.BytesIO(GNT))] == ["人", "口", "啖"]
    (tmp_path / "valid.pth").write_bytes(PTH)
    np.testing.assert_array_equal(read_torch_weights(tmp_path / "valid.pth")["w"].ravel(), range(6))
