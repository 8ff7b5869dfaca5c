"""Training, evaluation and prediction loops on a tiny separable task (no archive needed).

The loops take any classifier; a three-layer CNN keeps these tests fast, and DenseNet121 itself is checked
for shape. (Notebook 02's test trains the real DenseNet121 on the demo archive.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from monai.data import DataLoader, Dataset

from workbench.ml.training import evaluate, make_classifier, predict, set_seed, train_classifier

CLASSES = ["normal", "pneumonia"]


def _items(n: int, seed: int) -> list[dict]:
    """Class 1 is a bright cube in noise, class 0 noise only: separable after a few steps."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        label = i % 2
        image = rng.normal(0.2, 0.05, (1, 16, 16, 16)).astype(np.float32)
        if label:
            image[:, 4:12, 4:12, 4:12] += 0.6
        items.append({"image": torch.from_numpy(image), "label": label, "series_uid": f"1.2.{seed}.{i}",
                      "patient_id": f"p{i}"})
    return items


def _small_cnn() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv3d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveMaxPool3d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, len(CLASSES)),
    )


def test_make_classifier_is_a_3d_densenet121():
    model = make_classifier(3)
    assert type(model).__name__ == "DenseNet121"
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 1, 32, 32, 32)).shape == (1, 3)


@pytest.fixture(scope="module")
def trained():
    set_seed(0, threads=2)
    model = _small_cnn()
    history = train_classifier(
        model, DataLoader(Dataset(_items(8, 0)), batch_size=4, shuffle=True),
        epochs=10, learning_rate=3e-2, progress=False,
    )
    return model, history


def test_training_records_each_epoch(trained):
    _, history = trained
    assert history["epoch"].tolist() == list(range(1, 11))
    assert history["items"].tolist() == [8] * 10
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]


def test_single_item_batches_are_skipped_in_training():
    history = train_classifier(
        _small_cnn(), DataLoader(Dataset(_items(7, 5)), batch_size=3), epochs=1, progress=False
    )
    assert history["items"].tolist() == [6]  # batches of 3, 3 and 1: BatchNorm cannot train on the last


def test_evaluate_scores_a_held_out_set(trained):
    model, _ = trained
    result = evaluate(model, DataLoader(Dataset(_items(6, 1)), batch_size=3), classes=CLASSES)
    assert result.positive == "pneumonia"
    assert result.roc_auc == pytest.approx(1.0)
    assert result.accuracy >= 5 / 6
    assert result.to_dict() == {"positive": "pneumonia", "n": 6, "accuracy": result.accuracy, "roc_auc": 1.0}
    preds = result.predictions
    assert list(preds.columns) == ["series_uid", "patient_id", "true_class", "predicted_class", "probability",
                                   "p_normal", "p_pneumonia"]
    np.testing.assert_allclose(preds["p_normal"] + preds["p_pneumonia"], 1.0, rtol=1e-5)
    assert (preds["probability"] >= 0.5).all()
    ax = result.plot_roc()
    assert "AUC = 1.000" in ax.get_legend().get_texts()[0].get_text()


def test_predict_unlabeled_items_and_single_class_evaluation(trained):
    model, _ = trained
    unlabeled = [{k: v for k, v in item.items() if k != "label"} for item in _items(2, 2)]
    preds = predict(model, DataLoader(Dataset(unlabeled), batch_size=2), classes=CLASSES)
    assert "true_class" not in preds and preds["series_uid"].tolist() == ["1.2.2.0", "1.2.2.1"]
    only_positive = [item for item in _items(4, 3) if item["label"] == 1]
    result = evaluate(model, DataLoader(Dataset(only_positive), batch_size=2), classes=CLASSES)
    assert math.isnan(result.roc_auc) and result.to_dict()["roc_auc"] is None


def test_bad_arguments(trained):
    model, _ = trained
    loader = DataLoader(Dataset(_items(2, 4)), batch_size=2)
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        train_classifier(model, loader, epochs=0)
    with pytest.raises(ValueError, match="positive class 'covid'"):
        evaluate(model, loader, classes=CLASSES, positive="covid")
    with pytest.raises(ValueError, match="2 outputs but 3 classes"):
        predict(model, loader, classes=["a", "b", "c"])
    with pytest.raises(ValueError, match="no usable batch"):
        train_classifier(model, [None], epochs=1, progress=False)
    with pytest.raises(ValueError, match="at least 2 classes"):
        make_classifier(1)


def _short_run(seed: int) -> list[float]:
    """Shuffled batches with random flips (MONAI's RandFlipd), as notebook 02 trains."""
    from monai.transforms import Compose, RandFlipd

    from workbench.ml.datasets import TolerantDataset
    from workbench.ml.training import loader

    set_seed(seed, threads=1)
    flips = Compose([RandFlipd("image", prob=0.5, spatial_axis=0)])
    dataset = TolerantDataset(Dataset(_items(8, 7), transform=flips))
    history = train_classifier(
        _small_cnn(), loader(dataset, batch_size=4, shuffle=True, seed=seed), epochs=3, learning_rate=3e-2,
        progress=False,
    )
    return history["loss"].tolist()


def test_same_seed_same_losses_in_another_process():
    import subprocess
    import sys

    code = "from tests.ml.test_training import _short_run; print(_short_run(3))"
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True,
            env={**__import__("os").environ, "PYTHONHASHSEED": str(hash_seed)},
        ).stdout
        for hash_seed in (1, 2)
    ]
    assert runs[0] == runs[1] == f"{_short_run(3)}\n"
    assert _short_run(4) != _short_run(3)
    assert torch.are_deterministic_algorithms_enabled()


def test_progress_shows_batches_and_a_line_per_epoch(capsys):
    train_classifier(_small_cnn(), DataLoader(Dataset(_items(8, 0)), batch_size=4), epochs=2, progress=True)
    captured = capsys.readouterr()
    assert "epoch 1/2: loss" in captured.out and "epoch 2/2: loss" in captured.out and " s\n" in captured.out
    assert "epoch 1/2:   0%| " in captured.err and "/2 [" in captured.err  # a bar over the 2 batches


def test_monai_future_warnings_are_hidden():
    import warnings

    from workbench.ml import hide_monai_future_warnings

    with warnings.catch_warnings(record=True) as caught:
        hide_monai_future_warnings()  # what importing workbench.ml does (pytest resets filters per test)
        warnings.warn_explicit("old API", FutureWarning, "x.py", 1, module="monai.transforms.x")
        warnings.warn_explicit("old API", FutureWarning, "x.py", 1, module="mine")
    assert [str(w.message) for w in caught] == ["old API"]
