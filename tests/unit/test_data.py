"""Data sources, upload parsing and the split: shapes, dtypes, NaN handling, seeds, refusals."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter
from sklearn import datasets

from worker.contract.errors import DataUnavailable, SpecError
from worker.contract.spec import DataSpec
from worker.data import RawData, UploadError, load, parse_upload, split

DATA = TypeAdapter(DataSpec)


def spec(**fields: Any) -> Any:
    """A validated ``data`` spec."""
    return DATA.validate_python(fields)


def npz_bytes(**arrays: np.ndarray) -> bytes:
    """An ``.npz`` archive of ``arrays``, as numpy.savez writes it."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


# --- builtin -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "x_shape"),
    [
        ("iris", (150, 4)),
        ("wine", (178, 13)),
        ("digits", (1797, 64)),
        ("breast_cancer", (569, 30)),
        ("diabetes", (442, 10)),
    ],
)
def test_builtin_shapes_and_dtypes(name: str, x_shape: tuple[int, int]) -> None:
    raw = load(spec(source="builtin", name=name))
    assert raw.x.shape == x_shape and raw.x.dtype == np.float32
    assert raw.y.shape == (x_shape[0],) and raw.y.dtype == np.int64


def test_builtin_is_as_given_unscaled() -> None:
    raw = load(spec(source="builtin", name="wine"))
    x, y = datasets.load_wine(return_X_y=True)
    np.testing.assert_array_equal(raw.x, x.astype(np.float32))
    np.testing.assert_array_equal(raw.y, y)
    assert raw.x.max() == pytest.approx(1680.0)  # proline, unscaled


def test_shape_reshapes_each_sample() -> None:
    raw = load(spec(source="builtin", name="digits", shape=[1, 8, 8]))
    assert raw.x.shape == (1797, 1, 8, 8)
    assert raw.sample_shape == (1, 8, 8)


def test_shape_of_wrong_size_names_the_field() -> None:
    with pytest.raises(SpecError) as err:
        load(spec(source="builtin", name="digits", shape=[1, 7, 7]))
    assert err.value.loc == ("data", "shape") and "64" in err.value.message


# --- synthetic -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "x_shape", "y_dtype"),
    [
        ("blobs", (100, 2), np.int64),
        ("moons", (100, 2), np.int64),
        ("circles", (100, 2), np.int64),
        ("classification", (100, 20), np.int64),
        ("regression", (100, 100), np.float32),
    ],
)
def test_synthetic_defaults_are_scikit_learns(name: str, x_shape: tuple[int, int], y_dtype: type) -> None:
    raw = load(spec(source="synthetic", name=name))
    assert raw.x.shape == x_shape and raw.x.dtype == np.float32
    assert raw.y.shape == (100,) and raw.y.dtype == y_dtype


def test_synthetic_is_seeded() -> None:
    a = load(spec(source="synthetic", name="moons", noise=0.1, seed=3))
    b = load(spec(source="synthetic", name="moons", noise=0.1, seed=3))
    c = load(spec(source="synthetic", name="moons", noise=0.1, seed=4))
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)
    x, _ = datasets.make_moons(noise=0.1, random_state=3)
    np.testing.assert_array_equal(a.x, x.astype(np.float32))


def test_circles_keep_factor_0_8() -> None:
    raw = load(spec(source="synthetic", name="circles"))
    radii = np.linalg.norm(raw.x.astype(np.float64), axis=1)
    np.testing.assert_allclose(np.sort(radii)[[0, -1]], [0.8, 1.0], rtol=1e-6)
    assert ((np.abs(radii - 0.8) < 1e-6) | (np.abs(radii - 1.0) < 1e-6)).all()


def test_blobs_noise_is_cluster_std_and_n_classes_is_centers() -> None:
    raw = load(spec(source="synthetic", name="blobs", n_classes=5, noise=0.0, n_samples=50))
    assert set(raw.y.tolist()) == {0, 1, 2, 3, 4}
    assert len(np.unique(raw.x, axis=0)) == 5  # cluster_std 0: every point sits on its center


def test_classification_raises_n_informative_for_many_classes() -> None:
    raw = load(spec(source="synthetic", name="classification", n_classes=10, n_samples=200))
    assert raw.x.shape == (200, 20) and set(raw.y.tolist()) == set(range(10))
    few = load(spec(source="synthetic", name="classification", n_classes=4, n_features=2))
    assert few.x.shape == (100, 2) and set(few.y.tolist()) == {0, 1, 2, 3}


def test_classification_noise_is_flip_y() -> None:
    clean = load(spec(source="synthetic", name="classification", noise=0.0))
    x, y = datasets.make_classification(flip_y=0.0, random_state=0)
    np.testing.assert_array_equal(clean.y, y)


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"name": "regression", "n_classes": 3}, ("data", "n_classes")),
        ({"name": "moons", "n_features": 3}, ("data", "n_features")),
        ({"name": "circles", "n_classes": 3}, ("data", "n_classes")),
        ({"name": "classification", "n_classes": 5, "n_features": 2}, ("data", "n_classes")),
        ({"name": "classification", "noise": 1.5}, ("data", "noise")),
    ],
)
def test_synthetic_refusals_name_the_field(fields: dict[str, Any], loc: tuple[str, ...]) -> None:
    with pytest.raises(SpecError) as err:
        load(spec(source="synthetic", **fields))
    assert err.value.loc == loc


def test_parameter_that_does_not_apply_says_so() -> None:
    with pytest.raises(SpecError, match="applies only to"):
        load(spec(source="synthetic", name="regression", n_classes=3))


# --- inline --------------------------------------------------------------------------------------


def test_inline_null_is_nan_and_labels_are_int64() -> None:
    raw = load(spec(source="inline", x=[[1, 2], [3, None], None], y=[0, 1, 2]))
    assert raw.x.dtype == np.float32 and raw.x.shape == (3, 2)
    assert np.isnan(raw.x[1, 1]) and np.isnan(raw.x[2]).all() and raw.x[0, 1] == 2
    assert raw.y.dtype == np.int64


def test_inline_null_label_keeps_nan_as_float() -> None:
    raw = load(spec(source="inline", x=[[1], [2]], y=[1, None]))
    assert raw.y.dtype == np.float32 and np.isnan(raw.y[1])


def test_inline_images_and_label_vectors() -> None:
    image = [[[0, 1], [2, 3]]]
    raw = load(spec(source="inline", x=[image, image], y=[[0.5, 1], [1, 0]]))
    assert raw.x.shape == (2, 1, 2, 2) and raw.y.shape == (2, 2) and raw.y.dtype == np.float32


def test_inline_is_used_as_given() -> None:
    raw = load(spec(source="inline", x=[[1e6, -3], [2.5, 1e-6]], y=[0.25, 7]))
    np.testing.assert_array_equal(raw.x, np.float32([[1e6, -3], [2.5, 1e-6]]))
    assert raw.y.dtype == np.float32 and raw.y.tolist() == [0.25, 7.0]


@pytest.mark.parametrize(
    ("x", "y", "loc", "words"),
    [
        ([[1, 2], [3]], [0, 1], ("data", "x", 1), "shape"),
        ([[1, 2], [3, "4"]], [0, 1], ("data", "x", 1), "'4'"),
        ([[1, True], [3, 4]], [0, 1], ("data", "x", 0), "True"),
        ([[[[[[1]]]]], [[[[[1]]]]]], [0, 1], ("data", "x", 0), "deeper than 4"),
        ([[[1, 2], [3]], [[1, 2], [3, 4]]], [0, 1], ("data", "x", 0), "ragged"),
        ([[1], [2]], [0, "a"], ("data", "y", 1), "'a'"),
        ([[1], [2]], [[[0]], [[1]]], ("data", "y", 0), "nest"),
    ],
)
def test_inline_refusals_name_the_row(x: list[Any], y: list[Any], loc: tuple[Any, ...], words: str) -> None:
    with pytest.raises(SpecError) as err:
        load(spec(source="inline", x=x, y=y))
    assert err.value.loc == loc and words in err.value.message


# --- uploaded data sets --------------------------------------------------------------------------


def test_dataset_loads_the_stored_npz() -> None:
    stored, _ = parse_upload("d.npz", npz_bytes(x=np.arange(12.0).reshape(4, 3), y=np.array([0, 1, 0, 1])))
    raw = load(spec(source="dataset", id="abc"), lambda i: stored if i == "abc" else None)
    assert raw.x.shape == (4, 3) and raw.x.dtype == np.float32 and raw.y.dtype == np.int64


@pytest.mark.parametrize("fetch", [None, lambda _id: None])
def test_dataset_missing_is_unavailable(fetch: Any) -> None:
    with pytest.raises(DataUnavailable) as err:
        load(spec(source="dataset", id="nope"), fetch)
    assert err.value.loc == ("data", "id") and "'nope'" in err.value.message


def test_upload_npz_canonical_form_and_description() -> None:
    content = npz_bytes(x=np.ones((5, 2, 3), np.float64), y=np.array([0.0, 1.0, 2.0, np.nan, 1.0]))
    stored, info = parse_upload("scans.NPZ", content)
    assert info == {"n_samples": 5, "x_shape": [5, 2, 3], "y_shape": [5], "x_dtype": "float32", "y_dtype": "float32"}
    with np.load(io.BytesIO(stored), allow_pickle=False) as npz:
        assert npz["x"].dtype == np.float32 and np.isnan(npz["y"][3])


def test_upload_refuses_pickled_object_array() -> None:
    content = npz_bytes(x=np.array([{"a": 1}, {"b": 2}], dtype=object), y=np.array([0, 1]))
    with pytest.raises(UploadError, match="Python objects"):
        parse_upload("evil.npz", content)
    assert issubclass(UploadError, ValueError)


@pytest.mark.parametrize(
    ("arrays", "words"),
    [
        ({"x": np.ones((3, 2))}, "no array 'y'"),
        ({"x": np.ones((3, 2)), "y": np.ones(4)}, "3 samples but y has 4"),
        ({"x": np.array(["a", "b"]), "y": np.ones(2)}, "numeric"),
        ({"x": np.ones((3, 200)), "y": np.ones(3)}, "limit is 100"),
    ],
)
def test_upload_npz_refusals(arrays: dict[str, np.ndarray], words: str) -> None:
    with pytest.raises(UploadError, match=words):
        parse_upload("d.npz", npz_bytes(**arrays), max_features=100)


def test_upload_npz_row_limit_and_garbage() -> None:
    with pytest.raises(UploadError, match="limit is 2"):
        parse_upload("d.npz", npz_bytes(x=np.ones((3, 1)), y=np.ones(3)), max_rows=2)
    with pytest.raises(UploadError, match="not an .npz"):
        parse_upload("d.npz", b"hello")
    with pytest.raises(UploadError, match=r"\.csv"):
        parse_upload("d.xlsx", b"")


def test_upload_csv_with_label_column() -> None:
    content = b"a,b,target\n1,2,0\n3,,1\n5,NaN,1\n"
    stored, info = parse_upload("t.csv", content)
    assert info["x_shape"] == [3, 2] and info["y_dtype"] == "int64"
    with np.load(io.BytesIO(stored), allow_pickle=False) as npz:
        assert np.isnan(npz["x"][1, 1]) and np.isnan(npz["x"][2, 1]) and npz["y"].tolist() == [0, 1, 1]
    _, named = parse_upload("t.csv", b"price,rooms\n100.5,2\n80.25,1\n", label_column="price")
    assert named["y_dtype"] == "float32" and named["x_shape"] == [2, 1]


@pytest.mark.parametrize(
    ("content", "kwargs", "words"),
    [
        (b"a,b\n1,2\n", {}, "columns are: a, b"),
        (b"a,b\n1,2\n", {"label_column": "c"}, "'c' is not in"),
        (b"1,2\n3,4\n", {}, "header"),
        (b"a,label\n1,x\n", {}, "line 2, column 'label'"),
        (b"a,label\n1,2,3\n", {}, "3 cells"),
        (b"a,label\n1,0\n2,1\n3,0\n", {"max_rows": 2}, "limit is 2"),
        (b"a,b,c,label\n1,2,3,0\n", {"max_features": 2}, "limit is 2"),
        (b"a,label\n", {}, "no data rows"),
    ],
)
def test_upload_csv_refusals(content: bytes, kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(UploadError, match=words):
        parse_upload("t.csv", content, **kwargs)


# --- split ---------------------------------------------------------------------------------------


def test_split_is_seeded_and_covers_every_sample() -> None:
    raw = RawData(x=np.arange(20, dtype=np.float32).reshape(10, 2), y=np.arange(10))
    a, b, c = split(raw, 0.3, seed=1), split(raw, 0.3, seed=1), split(raw, 0.3, seed=2)
    assert len(a.y_train) == 7 and len(a.y_val) == 3
    np.testing.assert_array_equal(a.y_val, b.y_val)
    assert not np.array_equal(a.y_val, c.y_val)
    assert sorted(np.concatenate([a.y_train, a.y_val]).tolist()) == list(range(10))
    np.testing.assert_array_equal(a.x_val[:, 0], a.y_val * 2)  # rows stay paired with labels


def test_split_keeps_one_sample_each_side_or_refuses() -> None:
    two = RawData(x=np.zeros((2, 1), np.float32), y=np.zeros(2, np.int64))
    parts = split(two, 0.01, seed=0)
    assert len(parts.y_train) == 1 and len(parts.y_val) == 1
    one = RawData(x=np.zeros((1, 1), np.float32), y=np.zeros(1, np.int64))
    with pytest.raises(SpecError) as err:
        split(one, 0.2, seed=0)
    assert err.value.loc == ("data", "validation_fraction")
