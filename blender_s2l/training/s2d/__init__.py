"""S2D training, evaluation and the RBF baseline (ICT FaceKit data, other topologies)."""
