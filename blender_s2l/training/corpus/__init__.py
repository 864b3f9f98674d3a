"""Synthetic speech + face-motion corpus: TTS with phone timings, ICT expression targets."""
