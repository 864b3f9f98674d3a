"""Other topologies of the same face, with the true motion carried over.

Surface Voronoi clustering: seeds are spread one per grid cell (and per connected part, so eyes
and teeth survive), every vertex joins its nearest seed ALONG THE SURFACE, and a triangle joins
three clusters wherever three regions meet. Clusters grow along the surface, so the two lips never
merge into one vertex. A new vertex sits at its cluster's mean position and moves with its
cluster's mean motion, which is the same linear map applied to the displaced mesh: the carried-over
motion is exact for the new mesh. Vertex order is shuffled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.csgraph import connected_components, dijkstra

from ...core.head.mesh import FacesLike, triangulate
from ...core.head.mesh_features import polygon_graph


@dataclass(frozen=True)
class RemeshPattern:
    """A fixed re-topology of one source mesh; apply() carries any per-vertex array over."""

    averaging: sp.csr_matrix  # (K, V0) rows sum to 1
    faces: NDArray[np.int64]  # (F', 3) triangles over the K new vertices
    source_vertex: NDArray[np.int64]  # (K,) one original vertex per new vertex (for labels)

    @property
    def n_vertices(self) -> int:
        return int(self.averaging.shape[0])

    def apply(self, values: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
        """(V0, ...) -> (K, ...) cluster means."""
        x = np.asarray(values, dtype=np.float64)
        flat = x.reshape(x.shape[0], -1)
        out = self.averaging @ flat
        return np.asarray(out, dtype=np.float32).reshape((self.n_vertices, *x.shape[1:]))

    def apply_stack(self, values: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
        """(N, V0, 3) -> (N, K, 3), e.g. a stack of expression deltas."""
        x = np.asarray(values, dtype=np.float64)
        moved = np.moveaxis(x, 1, 0)
        return np.moveaxis(self.apply(moved), 0, 1)


def _seeds(
    vertices: NDArray[np.float64], part: NDArray[np.int64], cell_mm: float, rng: np.random.Generator
) -> NDArray[np.int64]:
    offset = rng.uniform(0.0, cell_mm, size=3)
    cells = np.floor((vertices + offset) / cell_mm).astype(np.int64)
    key = np.concatenate([cells, part[:, None]], axis=1)
    order = rng.permutation(len(vertices))
    _, first = np.unique(key[order], axis=0, return_index=True)
    return np.sort(order[first])


def voronoi_remesh(
    vertices: NDArray[np.floating[Any]],
    faces: FacesLike,
    cell_mm: float,
    rng: np.random.Generator,
) -> RemeshPattern:
    v = np.asarray(vertices, dtype=np.float64)
    graph = polygon_graph(v, faces)
    _, part = connected_components(graph, directed=False)
    seeds = _seeds(v, part.astype(np.int64), cell_mm, rng)
    _, _, nearest = dijkstra(
        graph, directed=False, indices=seeds, return_predecessors=True, min_only=True
    )
    # Map seed vertex ids to shuffled cluster ids.
    new_id = np.full(len(v), -1, dtype=np.int64)
    new_id[seeds] = rng.permutation(len(seeds))
    labels = new_id[nearest]
    k = len(seeds)
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    avg = sp.csr_matrix(
        (1.0 / counts[labels], (labels, np.arange(len(v)))), shape=(k, len(v))
    )
    tri = labels[triangulate(faces)]
    distinct = (tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 0] != tri[:, 2])
    tri = tri[distinct]
    # One triangle per unordered corner set, keeping the first one's winding.
    _, keep = np.unique(np.sort(tri, axis=1), axis=0, return_index=True)
    tri = tri[np.sort(keep)]
    source = np.empty(k, dtype=np.int64)
    source[new_id[seeds]] = seeds
    return RemeshPattern(avg, tri, source)
