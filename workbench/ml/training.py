"""Whole-volume classification with MONAI's DenseNet121: train, evaluate, predict.

The loops are the plain ones of MONAI's classification tutorials, written once here so that notebooks hold
no logic: items come from :func:`workbench.ml.datasets.series_dicts` (keys ``image``, ``label``,
``series_uid``, ``patient_id``, ``study_uid``) through a MONAI ``DataLoader``; batches that a
:class:`~workbench.ml.datasets.TolerantDataset` emptied (``None``) are skipped.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.files import atomic_write

if TYPE_CHECKING:
    import torch
    from matplotlib.axes import Axes

logger = logging.getLogger(__name__)

TRACE_KEYS = ("series_uid", "patient_id", "study_uid")
"""Item keys carried from a batch into the prediction table."""


def set_seed(seed: int, *, threads: int | None = None) -> None:
    """Make CPU runs repeatable: the same seed and parameters give the same losses, in any process.

    Seeds Python, numpy and torch (MONAI's ``set_determinism``, which also seeds MONAI's random transforms
    when a :func:`loader` is built), turns on torch's deterministic algorithms, fixes the hash seed and
    cuBLAS workspace that worker processes inherit, and caps torch's CPU threads. Build loaders with
    :func:`loader` so that the shuffle order, augmentation and worker seeds follow the seed too.

    Parameters
    ----------
    seed
        The seed.
    threads
        Intra-op threads torch may use (``None``: leave torch's default). Keep it fixed between runs that
        should agree: reductions split over a different number of threads round differently.
    """
    import os
    import random

    import numpy as np
    import torch
    from monai.utils import set_determinism

    if threads is not None:
        torch.set_num_threads(threads)
    os.environ["PYTHONHASHSEED"] = str(seed)  # worker processes started later hash alike
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    set_determinism(seed=seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn`` for DataLoader workers: MONAI's transform seeding, plus Python's and numpy's RNG."""
    import random

    import numpy as np
    import torch
    from monai.data.utils import worker_init_fn

    worker_init_fn(worker_id)
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def loader(
    dataset: Any, *, batch_size: int, seed: int, shuffle: bool = False, num_workers: int = 0, **kwargs: Any
) -> Any:
    """A MONAI ``DataLoader`` whose shuffle order, augmentation and worker seeds follow ``seed``.

    Parameters
    ----------
    dataset
        A map-style dataset (e.g. :class:`~workbench.ml.datasets.TolerantDataset`).
    batch_size, shuffle, num_workers
        As for ``DataLoader``.
    seed
        Seeds the loader's own generator (not torch's global one), so other random draws between runs do
        not shift the data order.
    **kwargs
        Passed to ``DataLoader``; ``collate_fn`` defaults to
        :func:`~workbench.ml.datasets.collate_skip_failed`.
    """
    import torch
    from monai.data import DataLoader

    from workbench.ml.datasets import collate_skip_failed

    kwargs.setdefault("collate_fn", collate_skip_failed)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed), worker_init_fn=seed_worker, **kwargs,
    )


def make_classifier(n_classes: int = 2, *, spatial_dims: int = 3, in_channels: int = 1) -> torch.nn.Module:
    """MONAI's DenseNet121 for whole-image classification (randomly initialised: nothing is downloaded).

    Parameters
    ----------
    n_classes
        Number of output classes (logits).
    spatial_dims
        3 for volumes, 2 for images.
    in_channels
        Channels of the input (1 for CT).

    Returns
    -------
    torch.nn.Module
    """
    from monai.networks.nets import DenseNet121

    if n_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, got {n_classes}")
    return DenseNet121(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=n_classes)


def train_classifier(
    model: torch.nn.Module,
    loader: Iterable[Any],
    *,
    epochs: int,
    learning_rate: float = 1e-4,
    weight_decay: float = 0.0,
    device: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Train ``model`` with cross-entropy and Adam.

    Parameters
    ----------
    model
        E.g. from :func:`make_classifier`.
    loader
        A MONAI/torch ``DataLoader`` of dicts with ``image`` (B, C, ...) and ``label`` (B,). Batches of a
        single item (a remainder, or what :class:`~workbench.ml.datasets.TolerantDataset` left) are skipped:
        DenseNet's batch normalisation cannot train on them.
    epochs
        Passes over the loader.
    learning_rate, weight_decay
        Adam settings.
    device
        ``"cpu"``, ``"cuda"`` ...; default CUDA when available.
    progress
        Show a bar over each epoch's batches with the running loss, and one line per epoch (loss, items,
        seconds): a widget in JupyterLab, text under papermill (see :mod:`workbench.progress`).

    Returns
    -------
    pandas.DataFrame
        One row per epoch: ``epoch``, ``loss`` (mean over batches), ``items``, ``seconds``.

    Raises
    ------
    ValueError
        ``epochs`` is not positive, or an epoch had no usable batch.
    """
    import torch

    from workbench.progress import tqdm

    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    loss_function = torch.nn.CrossEntropyLoss()
    rows = []
    try:
        n_batches: int | None = len(loader)  # type: ignore[arg-type]
    except TypeError:
        n_batches = None
    for epoch in range(1, epochs + 1):
        model.train()
        start, total, items = time.perf_counter(), 0.0, 0
        bar = tqdm(
            loader, total=n_batches, desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False,
            disable=not progress,
        )
        for batch in bar:
            if batch is None or len(batch["label"]) < 2:  # BatchNorm cannot normalise a single item
                continue
            images, labels = _inputs(batch, device), batch["label"].to(device).long()
            optimizer.zero_grad()
            loss = loss_function(model(images), labels)
            loss.backward()
            optimizer.step()
            total += float(loss.item()) * len(labels)
            items += len(labels)
            bar.set_postfix(loss=f"{total / items:.4f}")
        bar.close()
        if items == 0:
            raise ValueError(
                f"epoch {epoch} had no usable batch: items failed to load (see the log) or batch_size < 2"
            )
        seconds = time.perf_counter() - start
        rows.append({"epoch": epoch, "loss": total / items, "items": items, "seconds": seconds})
        line = f"epoch {epoch}/{epochs}: loss {total / items:.4f} over {items} items in {seconds:.1f} s"
        if progress:
            bar.write(line)  # one line per epoch stays in the notebook (the batch bar goes away)
        logger.info(line)
    return pd.DataFrame(rows)


def _inputs(batch: dict[str, Any], device: str) -> torch.Tensor:
    image = batch["image"]
    image = image.as_tensor() if hasattr(image, "as_tensor") else image  # plain tensors: faster autograd
    return image.to(device)


def predict(
    model: torch.nn.Module,
    loader: Iterable[Any],
    *,
    classes: Sequence[str],
    device: str | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Run ``model`` over ``loader`` and tabulate the softmax probabilities.

    Parameters
    ----------
    model
        A trained classifier.
    loader
        Batches of dicts with ``image`` and, when known, ``label``; ``series_uid``, ``patient_id`` and
        ``study_uid`` are carried into the table when present.
    classes
        Class names in output order.
    device
        As for :func:`train_classifier`.
    progress
        Show a tqdm bar over batches.

    Returns
    -------
    pandas.DataFrame
        One row per item: the trace columns, ``true_class`` (when labeled), ``predicted_class``,
        ``probability`` (of the predicted class) and ``p_<class>`` per class.
    """
    import torch

    from workbench.progress import tqdm

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).eval()
    rows: list[dict[str, Any]] = []
    with torch.no_grad():
        for batch in tqdm(loader, desc="predict", unit="batch", disable=not progress):
            if batch is None:
                continue
            logits = model(_inputs(batch, device))
            if logits.shape[1] != len(classes):
                raise ValueError(
                    f"the model has {logits.shape[1]} outputs but {len(classes)} classes were given"
                )
            probabilities = torch.softmax(logits, dim=1).cpu().numpy()
            labels = batch["label"].cpu().numpy() if "label" in batch else None
            for i, p in enumerate(probabilities):
                row: dict[str, Any] = {key: batch[key][i] for key in TRACE_KEYS if key in batch}
                if labels is not None:
                    row["true_class"] = classes[int(labels[i])]
                best = int(np.argmax(p))
                row["predicted_class"] = classes[best]
                row["probability"] = float(p[best])
                row.update({f"p_{name}": float(p[c]) for c, name in enumerate(classes)})
                rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class ClassifierEvaluation:
    """Accuracy and ROC of a binary (or one-vs-rest) classifier on a labeled set.

    Attributes
    ----------
    positive : str
        The class whose probability is the ROC score.
    accuracy : float
    roc_auc : float
        NaN when the set holds a single class.
    fpr, tpr : numpy.ndarray
        The ROC curve.
    predictions : pandas.DataFrame
        From :func:`predict`.
    """

    positive: str
    accuracy: float
    roc_auc: float
    fpr: np.ndarray
    tpr: np.ndarray
    predictions: pd.DataFrame = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Metrics as JSON-ready values (``roc_auc`` ``None`` when undefined)."""
        return {
            "positive": self.positive,
            "n": len(self.predictions),
            "accuracy": self.accuracy,
            "roc_auc": None if math.isnan(self.roc_auc) else self.roc_auc,
        }

    def plot_roc(self, ax: Axes | None = None) -> Axes:
        """Plot the ROC curve with its AUC; returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4, 4))
        ax.plot(self.fpr, self.tpr, marker=".", label=f"AUC = {self.roc_auc:.3f}")
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
        ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.02),
               title=f"ROC: {self.positive} (n={len(self.predictions)})")
        ax.legend(loc="lower right")
        return ax


def evaluate(
    model: torch.nn.Module,
    loader: Iterable[Any],
    *,
    classes: Sequence[str],
    positive: str | None = None,
    device: str | None = None,
) -> ClassifierEvaluation:
    """Predict a labeled set and score it: accuracy, ROC curve and AUC.

    Parameters
    ----------
    model, loader, classes, device
        As for :func:`predict`; every item must carry a ``label``.
    positive
        Class scored by the ROC; default the last of ``classes`` (``"pneumonia"`` in
        ``["normal", "pneumonia"]``).

    Returns
    -------
    ClassifierEvaluation

    Raises
    ------
    ValueError
        ``positive`` is not one of ``classes``, or the loader yielded no labeled item.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    positive = classes[-1] if positive is None else positive
    if positive not in classes:
        raise ValueError(f"positive class {positive!r} is not one of {list(classes)}")
    predictions = predict(model, loader, classes=classes, device=device)
    if predictions.empty or "true_class" not in predictions:
        raise ValueError("nothing to evaluate: the loader yielded no labeled item")
    truth = (predictions["true_class"] == positive).to_numpy()
    score = predictions[f"p_{positive}"].to_numpy()
    accuracy = float((predictions["true_class"] == predictions["predicted_class"]).mean())
    if truth.all() or not truth.any():
        logger.warning("ROC AUC is undefined: the evaluation set holds only one class")
        auc, fpr, tpr = float("nan"), np.array([0.0, 1.0]), np.array([0.0, 1.0])
    else:
        auc = float(roc_auc_score(truth, score))
        fpr, tpr, _ = roc_curve(truth, score)
    return ClassifierEvaluation(
        positive=positive, accuracy=accuracy, roc_auc=auc, fpr=fpr, tpr=tpr, predictions=predictions
    )


def run_metrics(
    *,
    parameters: dict[str, Any],
    n_train: int,
    n_test: int,
    evaluation: ClassifierEvaluation,
    train_seconds: float,
    history: pd.DataFrame,
    unseen: pd.DataFrame,
    sr_series_uids: dict[str, str],
    found_sr: pd.DataFrame,
    failures: pd.DataFrame,
) -> dict[str, Any]:
    """What a classification run computed, JSON-ready (``metrics.json`` of notebook 02).

    Parameters
    ----------
    parameters
        The run's parameters (epochs, image size, seed ...).
    n_train, n_test
        Series used for training and held out.
    evaluation
        :func:`evaluate` on the held-out series.
    train_seconds
        Training time.
    history
        :func:`train_classifier`'s loss per epoch.
    unseen
        Predictions for unseen series (``series_uid``, ``patient_id``, ``roster_finding``,
        ``predicted_class``, ``probability``).
    sr_series_uids
        Source series -> the prediction report written back.
    found_sr
        The reports found again through search.
    failures
        Series that failed to load (:meth:`workbench.ml.datasets.TolerantDataset.failure_table`).

    Returns
    -------
    dict
    """
    columns = ["series_uid", "patient_id", "roster_finding", "predicted_class", "probability"]
    return {
        "parameters": parameters,
        "n_train": n_train,
        "n_test": n_test,
        **evaluation.to_dict(),
        "train_seconds": round(train_seconds, 1),
        "final_loss": float(history["loss"].iloc[-1]),
        "unseen": unseen[columns].to_dict("records"),
        "sr_series_uids": sr_series_uids,
        "found_sr": found_sr.to_dict("records"),
        "failures": failures.to_dict("records"),
    }


def save_run(
    folder: str | Path,
    metrics: dict[str, Any],
    evaluation: ClassifierEvaluation,
    model: torch.nn.Module,
    *,
    classes: Sequence[str],
    image_size: int,
) -> list[Path]:
    """Write ``metrics.json``, ``predictions.csv`` (held-out predictions) and ``model.pt`` into ``folder``.

    Each file is written atomically and private (0600).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    import io
    import json

    import torch

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    weights = io.BytesIO()
    state = {"state_dict": model.state_dict(), "classes": list(classes), "image_size": image_size}
    torch.save(state, weights)
    files = {
        "metrics.json": json.dumps(metrics, indent=2, ensure_ascii=False).encode("utf-8"),
        "predictions.csv": evaluation.predictions.to_csv(index=False).encode("utf-8"),
        "model.pt": weights.getvalue(),
    }
    for name, data in files.items():
        atomic_write(out / name, data, mode=0o600)
    logger.info("wrote %s: %s", out, ", ".join(files))
    return [out / name for name in files]
