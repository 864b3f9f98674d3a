"""S2D training, evaluation and the RBF baseline (ICT FaceKit data, other topologies).

Choices, and why (numbers in reports/s2d_eval.md):
- Vertex features are surface (Dijkstra) distances to the 68 landmarks, not positions alone:
  the inner lips are < 1 mm apart in space but ~50 mm apart on the ICT surface, which is what
  keeps the lip seam from tearing; the RBF baseline, which only sees straight distances, drags
  ~15-28% of lip vertices with the wrong lip. Opposite-vertex edges are added to the graph so a
  triangulated copy of a quad mesh gets the same distances (plain edges are up to 41% long).
- Loose parts (eyes, teeth, lashes) use straight distances plus a flag: they have no surface
  path to the landmarks, and straight distances let the lower teeth follow the jaw.
- Factorised model (per-mesh basis x per-frame codes): one matrix product per clip, and the
  basis is the compact bake. Codes: linear + bias-free SiLU MLP, so zero motion is exactly zero.
- Other topologies during training (surface-Voronoi re-meshes of random identities, 3-6 mm
  cells) so the basis network does not learn ICT's edge lengths; evaluation uses unseen ones.
- Upper and lower face are drawn independently, each also alone, with a cross term (MeshTalk):
  brow/eye landmark motion must leave the mouth as the truth does and vice versa.
"""
