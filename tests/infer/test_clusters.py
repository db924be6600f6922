"""The feature-clusters scatter plot and its projection of wider embeddings."""

import numpy as np
from PIL import Image

from siamese_caffe.infer import clusters


def test_two_d_features_are_drawn_as_they_are():
    points = np.array([[1.0, 2.0], [3.0, 4.0]])
    xy, note = clusters.project_2d(points)
    assert note is None and np.array_equal(xy, points)


def test_wider_features_are_projected_onto_their_main_axes():
    rng = np.random.default_rng(0)
    # 3-D points spread along (1, 1, 0) and (0, 0, 1), almost flat otherwise
    t, s = rng.normal(size=(2, 200))
    points = np.column_stack([t, t, 0.5 * s]) + rng.normal(scale=0.01, size=(200, 3))
    xy, note = clusters.project_2d(points)
    assert xy.shape == (200, 2)
    assert note.startswith("PCA projection of 3-D features (100 % of variance")
    assert abs(np.corrcoef(xy[:, 0], t)[0, 1]) > 0.99   # first component follows the long axis
    distances = np.linalg.norm(points[:, None] - points[None], axis=2)
    projected = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    assert np.allclose(distances, projected, atol=0.05)  # nearly an isometry here


def test_one_d_features_lie_on_a_line():
    xy, note = clusters.project_2d(np.array([[1.0], [2.0]]))
    assert xy.tolist() == [[1.0, 0.0], [2.0, 0.0]] and note == "1-D features"


def test_plot_writes_a_png_with_one_legend_entry_per_class(tmp_path, monkeypatch):
    import matplotlib.axes

    legends = []
    original = matplotlib.axes.Axes.legend
    monkeypatch.setattr(matplotlib.axes.Axes, "legend",
                        lambda self, *a, **k: legends.append(original(self, *a, **k)))
    rng = np.random.default_rng(1)
    points = rng.normal(size=(30, 4))
    labels = np.repeat([0, 1, -1], 10)
    path = tmp_path / "clusters.png"
    note = clusters.plot_clusters(points, labels, str(path), title="t")
    assert note.startswith("PCA projection of 4-D")
    texts = [t.get_text() for t in legends[0].get_texts()]
    assert texts == ["unlabelled (10)", "0 (10)", "1 (10)"]
    with Image.open(path) as picture:
        assert picture.format == "PNG" and picture.width >= 600
