"""S2L training: corpus -> log-mel/landmark pairs -> the dilated-conv speech encoder."""
