import math

import pytest

from multimodal_fer.evaluation import classification_metrics


def test_metrics_on_a_known_confusion():
    y_true = ["a", "a", "a", "b", "b", "c"]
    y_pred = ["a", "a", "b", "b", None, "a"]
    m = classification_metrics(y_true, y_pred, ["a", "b", "c"])
    assert m["n"] == 6 and m["accuracy"] == round(3 / 6, 4)
    a = m["per_class"]["a"]
    assert a["precision"] == round(2 / 3, 4) and a["recall"] == round(2 / 3, 4)
    assert a["specificity"] == round(2 / 3, 4)  # negatives b, b, c: one predicted a
    assert m["per_class"]["b"]["recall"] == 0.5 and m["per_class"]["c"]["f1"] == 0.0
    assert m["confusion"]["matrix"][1][3] == 1  # the missing prediction
    assert math.isclose(m["weighted_f1"], round((3 * 2 / 3 + 2 * 0.5 + 0) / 6, 4), abs_tol=1e-4)


def test_macro_f1_ignores_absent_classes_and_unknown_labels_fail():
    m = classification_metrics(["a", "b"], ["a", "b"], ["a", "b", "c"])
    assert m["macro_f1"] == 1.0 and m["per_class"]["c"]["support"] == 0
    with pytest.raises(ValueError):
        classification_metrics(["z"], ["a"], ["a"])
