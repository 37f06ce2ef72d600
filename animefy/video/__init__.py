"""Video stages: streaming I/O, optical flow, the temporal supervisor, metrics, and the video pipeline."""
