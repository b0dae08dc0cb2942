"""N-MNIST and SHD readers: the on-disk formats decoded, binned, and bad files refused."""

from __future__ import annotations

import numpy as np
import pytest

from methods.espp import load_nmnist, load_shd, read_nmnist_events


def nmnist_bytes(events: list[tuple[int, int, int, int]]) -> bytes:
    """Encode (x, y, polarity, time_us) events in N-MNIST's 40-bit layout."""
    out = bytearray()
    for x, y, polarity, t in events:
        out += bytes([x, y, (polarity << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


@pytest.fixture
def nmnist_root(tmp_path):
    for split in ("Train", "Test"):
        for digit in (3, 7):
            folder = tmp_path / split / str(digit)
            folder.mkdir(parents=True)
            # digit 3: one ON event at (x=3, y=1) at 1 ms; digit 7: OFF at (33, 33) at 299 ms,
            # plus one event after the 300 ms window, which is dropped.
            events = (
                [(3, 1, 1, 1_000)] if digit == 3 else [(33, 33, 0, 299_000), (0, 0, 1, 400_000)]
            )
            (folder / "00001.bin").write_bytes(nmnist_bytes(events))
    return tmp_path


def test_nmnist_events_decode_address_polarity_and_23_bit_time(tmp_path):
    path = tmp_path / "e.bin"
    path.write_bytes(nmnist_bytes([(5, 6, 1, 0x7ABCDE), (0, 33, 0, 17)]))
    assert read_nmnist_events(path).tolist() == [[5, 6, 1, 0x7ABCDE], [0, 33, 0, 17]]


def test_nmnist_folder_is_binned_into_time_steps_with_labels(nmnist_root):
    data = load_nmnist(nmnist_root, "Test", n_steps=10)
    assert data.x.shape == (10, 2, 2 * 34 * 34)
    assert data.labels.tolist() == [3, 7]
    on_3_1 = (1 * 34 + 1) * 34 + 3
    assert data.x[0, 0, on_3_1] == 1 and data.x[:, 0].sum() == 1
    assert data.x[9, 1, (0 * 34 + 33) * 34 + 33] == 1 and data.x[:, 1].sum() == 1


def test_nmnist_rejects_a_truncated_file_and_a_missing_split(nmnist_root, tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x00" * 7)
    with pytest.raises(ValueError, match="not a multiple of 5"):
        read_nmnist_events(bad)
    with pytest.raises(FileNotFoundError, match="root/Train and root/Test"):
        load_nmnist(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="n_steps must be >= 1"):
        load_nmnist(nmnist_root, n_steps=0)


def test_shd_file_is_binned_into_time_steps_with_labels(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "shd_test.h5"
    floats, ints = h5py.vlen_dtype(np.float32), h5py.vlen_dtype(np.uint16)
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (2,), dtype=floats)
        units = f.create_dataset("spikes/units", (2,), dtype=ints)
        times[0], units[0] = np.array([0.05, 0.95], np.float32), np.array([0, 699], np.uint16)
        times[1], units[1] = np.array([0.5, 1.5], np.float32), np.array([10, 11], np.uint16)
        f["labels"] = np.array([4, 19])
    data = load_shd(path, n_steps=10)
    assert data.x.shape == (10, 2, 700)
    assert data.labels.tolist() == [4, 19]
    assert data.x[0, 0, 0] == 1 and data.x[9, 0, 699] == 1
    assert data.x[5, 1, 10] == 1 and data.x[:, 1].sum() == 1  # 1.5 s is past the window


def test_shd_rejects_a_file_without_its_datasets(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["labels"] = np.array([1])
    with pytest.raises(ValueError, match="not an SHD file: it has no spikes/times"):
        load_shd(path)
    with pytest.raises(FileNotFoundError, match="expected an SHD .h5 file"):
        load_shd(tmp_path / "missing.h5")
