import numpy as np
import pytest

from course_utils import evaluation as ev

NAMES = ["口", "日", "木"]
Y_TRUE = np.array([0, 0, 1, 1, 2, 2])
PROB = np.array(
    [
        [0.7, 0.2, 0.1],  # right
        [0.3, 0.5, 0.2],  # wrong: 日 (0.5); true class 口 is 2nd
        [0.1, 0.8, 0.1],  # right
        [0.1, 0.6, 0.3],  # right
        [0.6, 0.3, 0.1],  # wrong: 口 (0.6); true class 木 is 3rd
        [0.2, 0.2, 0.6],  # right
    ]
)


def test_per_class_accuracy_sorted_worst_first():
    table = ev.per_class_accuracy(Y_TRUE, PROB.argmax(1), NAMES)
    assert table.index.tolist() == ["口", "木", "日"]
    assert table.loc["口", "accuracy"] == 0.5 and table.loc["日", "accuracy"] == 1.0
    assert table["images"].sum() == 6 and table["correct"].sum() == 4


def test_per_class_accuracy_class_without_images_is_nan():
    table = ev.per_class_accuracy([0, 0], [0, 1], NAMES)
    assert np.isnan(table.loc["木", "accuracy"])


def test_prediction_confidence_right_vs_wrong():
    df = ev.prediction_confidence(PROB, Y_TRUE)
    assert df["correct"].tolist() == [True, False, True, True, False, True]
    assert df.groupby("correct")["confidence"].mean()[False] == pytest.approx(0.55)


def test_top_k_accuracy():
    assert ev.top_k_accuracy(Y_TRUE, PROB, k=1) == pytest.approx(4 / 6)
    assert ev.top_k_accuracy(Y_TRUE, PROB, k=2) == pytest.approx(5 / 6)
    assert ev.top_k_accuracy(Y_TRUE, PROB, k=3) == 1.0


def test_top_k_classes():
    top = ev.top_k_classes(PROB[:1], NAMES, k=2)
    assert top == [[("口", pytest.approx(0.7)), ("日", pytest.approx(0.2))]]


def test_most_confused_pairs():
    pairs = ev.most_confused_pairs([0, 0, 0, 1, 2], [1, 1, 0, 0, 2], NAMES, n=5)
    assert pairs.to_dict("records") == [
        {"true": "口", "predicted": "日", "count": 2},
        {"true": "日", "predicted": "口", "count": 1},
    ]


@pytest.mark.parametrize(
    "call",
    [
        lambda: ev.per_class_accuracy([0, 1], [0], NAMES),
        lambda: ev.top_k_accuracy(Y_TRUE, PROB[:3]),
        lambda: ev.top_k_accuracy(Y_TRUE, PROB, k=4),
        lambda: ev.prediction_confidence(PROB[:, 0], Y_TRUE),
        lambda: ev.top_k_classes(PROB, NAMES[:2]),
    ],
)
def test_bad_shapes_are_rejected(call):
    with pytest.raises(ValueError):
        call()


def test_predict_probabilities_applies_softmax_to_logits():
    class Fixed:
        def predict(self, X, verbose=0):
            return np.array([[1000.0, 1000.0, 0.0], [0.0, np.log(3.0), 0.0]])

    p = ev.predict_probabilities(Fixed(), None)
    np.testing.assert_allclose(p, [[0.5, 0.5, 0.0], [0.2, 0.6, 0.2]], atol=1e-6)  # float32 softmax
    np.testing.assert_allclose(ev.predict_probabilities(Fixed(), None, False)[1, 1], np.log(3.0))


@pytest.mark.parametrize("n_classes", [2, 3, 10])
def test_top_k_accuracy_counts_the_true_class_among_the_k_most_probable(n_classes):
    rng = np.random.default_rng(n_classes)
    y_prob = rng.dirichlet(np.ones(n_classes), size=200)
    y_true = rng.integers(0, n_classes, size=200)
    for k in range(1, n_classes + 1):
        top = np.argsort(-y_prob, axis=1)[:, :k]
        expected = (top == y_true[:, None]).any(axis=1).mean()
        assert ev.top_k_accuracy(y_true, y_prob, k=k) == pytest.approx(expected)


def test_predict_probabilities_rows_sum_to_one_for_float32_logits():
    class Random:
        def predict(self, X, verbose=0):
            return np.random.default_rng(0).normal(0, 5, size=(4, 55)).astype("float32")

    p = ev.predict_probabilities(Random(), None)
    assert isinstance(p, np.ndarray) and p.shape == (4, 55)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
