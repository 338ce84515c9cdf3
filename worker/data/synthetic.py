"""scikit-learn's generators, seeded by ``data.seed``; parameters left out take scikit-learn's defaults.

``noise`` is ``make_blobs``' ``cluster_std``, ``make_classification``'s ``flip_y`` (the share of
labels assigned at random) and the ``noise`` of the others. ``n_classes`` is ``make_blobs``'
``centers``. For ``classification`` the structural parameters are adjusted only where
scikit-learn's defaults (``n_features=20, n_informative=2, n_redundant=2,
n_clusters_per_class=2``) could not produce the requested data set:

- ``n_informative`` rises to the smallest value with ``n_classes * n_clusters_per_class <=
  2 ** n_informative``, capped at ``n_features``;
- where even ``n_informative = n_features`` cannot hold two clusters per class,
  ``n_clusters_per_class`` drops to 1;
- ``n_redundant`` shrinks so that ``n_informative + n_redundant <= n_features``.
"""

from __future__ import annotations

import math
from typing import Any

from sklearn import datasets

from worker.contract.errors import SpecError
from worker.contract.spec import SyntheticData
from worker.data.raw import RawData, as_features, as_labels

#: Which optional parameters each generator takes; the others are refused, not ignored.
APPLIES: dict[str, frozenset[str]] = {
    "blobs": frozenset({"n_samples", "n_features", "n_classes", "noise"}),
    "moons": frozenset({"n_samples", "noise"}),
    "circles": frozenset({"n_samples", "noise"}),
    "classification": frozenset({"n_samples", "n_features", "n_classes", "noise"}),
    "regression": frozenset({"n_samples", "n_features", "noise"}),
}

#: scikit-learn's default ``n_samples`` (every generator) and ``n_features`` (per generator).
DEFAULT_N_SAMPLES = 100
DEFAULT_N_FEATURES: dict[str, int] = {"blobs": 2, "moons": 2, "circles": 2, "classification": 20, "regression": 100}
#: Most values (samples x features) a synthetic data set may have here, whatever the service allows: 100
#: million, 800 MB as scikit-learn's float64. The service refuses far less (``LOSSDOCTOR_MAX_DATASET_VALUES``).
MAX_VALUES = 100_000_000

#: scikit-learn's defaults for ``make_classification`` that the adjustment starts from.
CLASSIFICATION_N_FEATURES = 20
CLASSIFICATION_N_INFORMATIVE = 2
CLASSIFICATION_N_REDUNDANT = 2
CLASSIFICATION_N_CLUSTERS = 2


def _check_applies(data: SyntheticData) -> None:
    """Refuse a parameter the chosen generator does not take, naming the generators that do."""
    for field in ("n_samples", "n_features", "n_classes", "noise"):
        if getattr(data, field) is None or field in APPLIES[data.name]:
            continue
        takers = ", ".join(name for name, fields in APPLIES.items() if field in fields)
        raise SpecError(
            ("data", field),
            f"data.{field} applies only to the synthetic data sets {takers}, not to {data.name!r}",
        )


def declared_shape(data: SyntheticData) -> tuple[int, int]:
    """(samples, features) the generator will produce, from the spec and scikit-learn's defaults; nothing is
    generated."""
    n_samples = data.n_samples if data.n_samples is not None else DEFAULT_N_SAMPLES
    n_features = data.n_features if data.n_features is not None else DEFAULT_N_FEATURES[data.name]
    return n_samples, n_features


def classification_structure(n_classes: int, n_features: int) -> dict[str, int]:
    """``n_informative``, ``n_redundant``, ``n_clusters_per_class`` that can hold ``n_classes``."""
    clusters = CLASSIFICATION_N_CLUSTERS
    informative = max(CLASSIFICATION_N_INFORMATIVE, math.ceil(math.log2(n_classes * clusters)))
    informative = min(informative, n_features)
    if n_classes * clusters > 2**informative:
        clusters = 1
    if n_classes * clusters > 2**informative:
        raise SpecError(
            ("data", "n_classes"),
            f"{n_features} features can separate at most {2**n_features} classes, "
            f"not {n_classes}; raise data.n_features to at least {math.ceil(math.log2(n_classes))}",
        )
    redundant = max(0, min(CLASSIFICATION_N_REDUNDANT, n_features - informative))
    return {"n_informative": informative, "n_redundant": redundant, "n_clusters_per_class": clusters}


def _kwargs(data: SyntheticData) -> dict[str, Any]:
    """The generator's keyword arguments: only what the spec sets, plus the seed."""
    kw: dict[str, Any] = {"random_state": data.seed}
    if data.n_samples is not None:
        kw["n_samples"] = data.n_samples
    if data.n_features is not None:
        kw["n_features"] = data.n_features
    if data.name == "blobs":
        if data.n_classes is not None:
            kw["centers"] = data.n_classes
        if data.noise is not None:
            kw["cluster_std"] = data.noise
    elif data.name == "classification":
        if data.noise is not None:
            if data.noise > 1.0:
                raise SpecError(
                    ("data", "noise"),
                    f"for classification data.noise is the share of labels assigned at random "
                    f"(scikit-learn's flip_y), between 0 and 1; got {data.noise:g}",
                )
            kw["flip_y"] = data.noise
        n_classes = data.n_classes if data.n_classes is not None else 2
        n_features = data.n_features if data.n_features is not None else CLASSIFICATION_N_FEATURES
        kw["n_classes"] = n_classes
        kw.update(classification_structure(n_classes, n_features))
    elif data.noise is not None:
        kw["noise"] = data.noise
    return kw


GENERATORS = {
    "blobs": datasets.make_blobs,
    "moons": datasets.make_moons,
    "circles": datasets.make_circles,
    "classification": datasets.make_classification,
    "regression": datasets.make_regression,
}


def load_synthetic(data: SyntheticData) -> RawData:
    """Generate the data set: x float32 ``[n_samples, n_features]``, y class indices or targets."""
    _check_applies(data)
    rows, features = declared_shape(data)
    if rows * features > MAX_VALUES:
        raise SpecError(
            ("data", "n_samples"),
            f"make_{data.name} would generate {rows} x {features} = {rows * features} values; "
            f"the most a synthetic data set may have is {MAX_VALUES}",
        )
    kw = _kwargs(data)
    try:
        x, y = GENERATORS[data.name](**kw)
    except ValueError as exc:
        # scikit-learn's own consistency checks (e.g. too few samples for the classes).
        raise SpecError(("data",), f"make_{data.name} refused the parameters {kw}: {exc}") from exc
    return RawData(x=as_features(x), y=as_labels(y))
