import numpy as np
import pytest
from conftest import CLASSES, write_image_folder
from PIL import Image

from course_utils import data

pytestmark = pytest.mark.backend_free  # no Keras here: skipped on JAX and torch


def test_load_image_folder_shapes_labels_and_unicode_names(image_folder):
    X, y, names = data.load_image_folder(image_folder)
    assert names == sorted(CLASSES)
    assert X.shape == (12, 80, 60, 1) and X.dtype == np.uint8
    assert y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert 0 < X.std()  # real pixel content, not a blank array


def test_load_image_folder_respects_given_class_order_and_rgb(image_folder):
    order = ["木", "口", "日"]
    X, y, names = data.load_image_folder(
        image_folder, image_size=(20, 10), class_names=order, grayscale=False
    )
    assert names == order and X.shape == (12, 20, 10, 3)
    first = data.load_image(image_folder / "木" / "000.png", (20, 10), grayscale=False)
    np.testing.assert_array_equal(X[0], first)


def test_max_per_class_subsamples_deterministically(image_folder):
    X1, y1, _ = data.load_image_folder(image_folder, max_per_class=2, seed=3)
    X2, _, _ = data.load_image_folder(image_folder, max_per_class=2, seed=3)
    assert np.bincount(y1).tolist() == [2, 2, 2]
    np.testing.assert_array_equal(X1, X2)


def test_missing_folder_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*prepare the data"):
        data.load_image_folder(tmp_path / "nope")


def test_folder_without_classes(tmp_path):
    with pytest.raises(ValueError, match="no class sub-folders"):
        data.load_image_folder(tmp_path)


def test_empty_class_folder_is_named(image_folder):
    (image_folder / "人").mkdir()
    with pytest.raises(ValueError, match="人 has no images"):
        data.load_image_folder(image_folder)


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\nthis is not really a png"])
def test_corrupt_or_empty_png_names_the_file(image_folder, content):
    (image_folder / "日" / "bad.png").write_bytes(content)
    with pytest.raises(ValueError, match=r"cannot read image .*bad\.png"):
        data.load_image_folder(image_folder)


def test_truncated_png_names_the_file(image_folder):
    good = (image_folder / "口" / "000.png").read_bytes()
    (image_folder / "口" / "cut.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=r"cut\.png"):
        data.load_image_folder(image_folder)


def test_mismatched_train_and_test_classes(tmp_path):
    train = write_image_folder(tmp_path / "Train")
    test = write_image_folder(tmp_path / "Test", classes=["口", "日", "火"])
    _, _, names = data.load_image_folder(train)
    with pytest.raises(ValueError, match=r"missing \['木'\], unexpected \['火'\]"):
        data.load_image_folder(test, class_names=names)


def test_check_same_classes_accepts_equal_sets():
    data.check_same_classes(["a", "b"], ["b", "a"])


def test_decomposed_unicode_folder_names_match_composed(tmp_path):
    # "é" as e + combining accent (how macOS may store it) equals the composed form
    write_image_folder(tmp_path / "T", classes=["cafe\u0301"], per_class=1)
    _, _, names = data.load_image_folder(tmp_path / "T", class_names=["caf\u00e9"])
    assert names == ["caf\u00e9"]


def test_count_images_counts_only_images(image_folder):
    (image_folder / "口" / "notes.txt").write_text("not an image")
    counts = data.count_images(image_folder)
    assert counts.to_dict() == {"口": 4, "日": 4, "木": 4}
    assert counts.index.tolist() == sorted(CLASSES)


def test_image_sizes_reads_every_file(image_folder):
    sizes = data.image_sizes(image_folder)
    assert len(sizes) == 12
    assert sorted(sizes["height"].unique()) == [40, 41, 42, 43]
    assert sorted(sizes["width"].unique()) == [30, 32, 34, 36]


def test_stratified_split_keeps_proportions():
    X = np.arange(100)[:, None]
    y = np.array([0] * 80 + [1] * 20)
    X_tr, X_val, y_tr, y_val = data.stratified_split(X, y, val_fraction=0.25, seed=1)
    assert len(X_val) == 25 and np.bincount(y_val).tolist() == [20, 5]
    assert set(X_tr.ravel()).isdisjoint(X_val.ravel())


@pytest.mark.parametrize("kwargs", [{"val_fraction": 0}, {"val_fraction": 1.5}])
def test_stratified_split_rejects_bad_fraction(kwargs):
    with pytest.raises(ValueError, match="val_fraction"):
        data.stratified_split(np.zeros((10, 1)), np.zeros(10), **kwargs)


def test_stratified_split_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="rows"):
        data.stratified_split(np.zeros((10, 1)), np.zeros(9))


def test_counts_and_sizes_of_chosen_classes_only(image_folder):
    assert data.count_images(image_folder, ["木", "口"]).to_dict() == {"木": 4, "口": 4}
    assert set(data.image_sizes(image_folder, ["日"])["class"]) == {"日"}
    with pytest.raises(ValueError, match="missing"):
        data.count_images(image_folder, ["森"])


def test_stratified_sample_keeps_every_class():
    y = np.repeat(np.arange(10), 20)
    X = np.arange(len(y))
    Xs, ys = data.stratified_sample(X, y, 0.2)
    assert len(ys) == 40 and set(ys) == set(range(10))
    Xs, ys = data.stratified_sample(X, y, 0.05)  # would leave 10 images for 10 classes
    assert len(ys) == 20 and np.bincount(ys).min() == 2
    few = np.repeat(np.arange(15), 2)  # 2 images per class: the sample is all of them
    assert len(data.stratified_sample(few, few, 0.2)[0]) == 30
    assert len(data.stratified_sample(few, few, 0.2, rest=True)[2]) == 0


def test_stratified_sample_can_return_the_rows_left_out():
    y = np.repeat(np.arange(10), 20)
    X = np.arange(len(y))
    Xs, ys, Xr, yr = data.stratified_sample(X, y, 0.2, rest=True)
    assert np.array_equal(Xs, data.stratified_sample(X, y, 0.2)[0])  # the same sample
    assert sorted(np.r_[Xs, Xr]) == list(X) and not set(Xs) & set(Xr)
    assert np.array_equal(y[Xr], yr)


def test_rank_within_class_gives_nested_per_class_selections():
    from course_utils.data import rank_within_class

    y = np.repeat([0, 1, 2], [7, 3, 5])
    rank = rank_within_class(y, seed=3)
    for c, n in enumerate([7, 3, 5]):
        assert sorted(rank[y == c]) == list(range(n))
    assert np.array_equal(rank, rank_within_class(y, seed=3))
    assert not np.array_equal(rank, rank_within_class(y, seed=4))
    assert np.bincount(y[rank < 2]).tolist() == [2, 2, 2]
    assert set(np.flatnonzero(rank < 2)) <= set(np.flatnonzero(rank < 4))


# ------------------------------------------------------------- hostile and odd inputs


def test_ink_drawn_only_in_the_alpha_channel_stays_visible(tmp_path):
    ink = np.zeros((20, 10), np.uint8)
    ink[5:15, 4:6] = 255
    rgba = np.zeros((20, 10, 4), np.uint8)  # black everywhere; the alpha channel is the ink
    rgba[..., 3] = ink
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    palette = Image.fromarray((ink > 0).astype(np.uint8), "P")
    palette.putpalette([0, 0, 0, 0, 0, 0])  # both colours black, colour 0 transparent
    palette.save(tmp_path / "palette.png", transparency=0)
    for name in ("rgba.png", "palette.png"):
        gray = data.load_image(tmp_path / name, None)[..., 0]
        np.testing.assert_array_equal(gray, np.where(ink > 0, 0, 255))
        rgb = data.load_image(tmp_path / name, None, grayscale=False)
        assert rgb[0, 0].tolist() == [255, 255, 255] and rgb[10, 5].tolist() == [0, 0, 0]


def test_class_folders_that_are_one_name_after_nfc_are_an_error_naming_both(tmp_path):
    write_image_folder(tmp_path / "T", classes=["女", "\uf981"], per_class=1)  # F981: NFC 女
    for read in (data.load_image_folder, data.count_images, data.image_sizes):
        with pytest.raises(ValueError, match="'女' and '\uf981' .* same name once Unicode"):
            read(tmp_path / "T")


def test_a_decompression_bomb_is_refused_naming_the_file(image_folder, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # the test images have 1,200+ pixels
    with pytest.raises(ValueError, match=r"refusing to read image .*\.png: .*decompression bomb"):
        data.load_image_folder(image_folder)
    with pytest.raises(ValueError, match=r"refusing to read image .*000\.png"):
        data.image_sizes(image_folder)
