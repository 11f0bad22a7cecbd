import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib import font_manager

from course_utils import plots
from course_utils.characters import COURSE_CHARACTERS

pytestmark = pytest.mark.backend_free  # no Keras here: skipped on JAX and torch


@pytest.fixture(autouse=True)
def _style():
    plots.use_course_style()
    yield
    plt.close("all")


def test_bundled_font_covers_every_course_character():
    from fontTools.ttLib import TTFont

    cmap = TTFont(plots.cjk_font_path()).getBestCmap()
    missing = [c for c in COURSE_CHARACTERS if ord(c) not in cmap]
    assert not missing


def test_cjk_titles_render_with_the_bundled_font():
    fig, ax = plt.subplots()
    text = ax.set_title("口 门 吗 妈")
    fig.canvas.draw()
    families = plt.rcParams["font.family"]
    assert plots.CJK_FONT_FAMILY in families
    found = font_manager.findfont(
        font_manager.FontProperties(family=plots.CJK_FONT_FAMILY), fallback_to_default=False
    )
    assert found == str(plots.cjk_font_path())
    assert text.get_window_extent().width > 0


def test_no_missing_glyph_warning_for_cjk(recwarn):
    fig, ax = plt.subplots()
    ax.set_title(COURSE_CHARACTERS)
    fig.canvas.draw()
    assert not [w for w in recwarn if "missing from font" in str(w.message)]


def test_plot_history_any_metric_pair():
    history = {
        "loss": [1.0, 0.5],
        "val_loss": [1.1, 0.7],
        "top5": [0.5, 0.8],
        "val_top5": [0.4, 0.7],
    }
    fig = plots.plot_history(history, ["loss", "top5"])
    ax_loss, ax_top5 = fig.axes
    assert [line.get_label() for line in ax_top5.lines] == ["training", "validation"]
    np.testing.assert_allclose(ax_top5.lines[1].get_ydata(), [0.4, 0.7])
    assert ax_loss.get_xlabel() == "epoch"


def test_plot_history_default_metrics_and_history_object():
    class FakeHistory:
        history = {"loss": [1.0], "accuracy": [0.3], "val_loss": [1.2]}

    fig = plots.plot_history(FakeHistory())
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]


def test_plot_history_unknown_metric():
    with pytest.raises(ValueError, match="no metric.*has"):
        plots.plot_history({"loss": [1.0]}, ["accuracy"])
    with pytest.raises(TypeError):
        plots.plot_history({})


def test_plot_characters_titles_are_class_names():
    X = np.zeros((6, 8, 6, 1), np.uint8)
    y = np.array([0, 1, 2, 0, 1, 2])
    fig = plots.plot_characters(X, y, ["口", "日", "木"], n=6, ncols=3)
    titles = sorted(ax.get_title() for ax in fig.axes if ax.get_title())
    assert titles == sorted(["口", "日", "木"] * 2)


def test_plot_failed_predictions_most_confident_first():
    X = np.zeros((4, 8, 6, 1), np.uint8)
    y_true = np.array([0, 1, 2, 0])
    y_prob = np.array([[0.9, 0.1, 0], [0.7, 0.3, 0], [0, 0.1, 0.9], [0.1, 0.85, 0.05]])
    fig = plots.plot_failed_predictions(X, y_true, y_prob, ["口", "日", "木"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["日, not 口 (85%)", "口, not 日 (70%)"]


def test_plot_failed_predictions_none_failed():
    fig = plots.plot_failed_predictions(np.zeros((1, 4, 4)), [0], [[1.0, 0.0]], ["a", "b"])
    assert fig.axes[0].texts[0].get_text() == "no failed predictions"


def test_plot_image_grid_rejects_bad_input():
    with pytest.raises(ValueError):
        plots.plot_image_grid([])
    with pytest.raises(ValueError, match="titles"):
        plots.plot_image_grid(np.zeros((2, 4, 4)), ["one"])


def test_confusion_matrix_clusters_confused_classes():
    # classes 0 and 3 are confused with each other; clustering should put them side by side
    y_true = np.array([0] * 10 + [1] * 10 + [2] * 10 + [3] * 10)
    y_pred = y_true.copy()
    y_pred[:4] = 3
    y_pred[30:34] = 0
    y_pred[10:12] = 2
    order = plots.cluster_order(np.array([[6, 0, 0, 4], [0, 8, 2, 0], [0, 0, 10, 0], [4, 0, 0, 6]]))
    pos = {c: i for i, c in enumerate(order)}
    assert abs(pos[0] - pos[3]) == 1
    fig = plots.plot_confusion_matrix(y_true, y_pred, ["人", "大", "犬", "太"])
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (4, 4) and np.allclose(image.sum(axis=1), 1)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert abs(labels.index("人") - labels.index("太")) == 1


def test_small_confusion_matrix_shows_counts():
    fig = plots.plot_confusion_matrix(
        np.array([0, 0, 0, 1]),
        np.array([0, 0, 1, 1]),
        ["no 口", "口"],
        normalize=False,
        cluster=False,
    )
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["0", "1", "1", "2"]
    plt.close(fig)


def test_plot_top_predictions_one_column_per_photo():
    photos = np.zeros((2, 8, 8, 3), np.float32)
    preds = [[("tabby", 0.6), ("tiger_cat", 0.3)], [("espresso", 0.9), ("cup", 0.05)]]
    fig = plots.plot_top_predictions(photos, preds, title="net")
    labels = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "tiger cat 0.30" in labels and "espresso 0.90" in labels
    assert len(fig.axes) == 4 and fig._suptitle.get_text() == "net"
    plt.close(fig)
    with pytest.raises(ValueError, match="2 photos but 1"):
        plots.plot_top_predictions(photos, preds[:1])


def test_plot_occlusion_lays_each_map_over_its_image():
    image = np.full((80, 60), 255, np.uint8)
    image[20:60, 28:32] = 0  # one vertical stroke
    fall = np.zeros((18, 13))
    fall[5, 6] = 0.8  # covering the stroke's middle costs the most
    fig = plots.plot_occlusion([image, image], [fall, -fall], ["丨", "丨 again"], patch=12)
    first, second = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["丨", "丨 again"]
    overlay = first.get_images()[1]
    assert overlay.get_extent() == [5.5, 53.5, 73.5, 5.5]  # square centres, in pixels
    assert second.get_images()[1].get_array().mask.all()  # a helpful cover is not red
    assert first.get_images()[1].get_array().count() == 1  # only the square that costs
    assert first.get_xlim() == (-0.5, 59.5)
    coarse = np.zeros((3, 3))
    fig = plots.plot_occlusion([image, image], [fall, coarse], ["12", "24"], patch=[12, 24])
    assert fig.axes[1].get_images()[1].get_extent() == [11.5, 47.5, 67.5, 11.5]
    with pytest.raises(ValueError, match="2 images, 1 maps"):
        plots.plot_occlusion([image, image], [fall], ["a", "b"], patch=12)
    plt.close("all")
