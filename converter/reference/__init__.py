"""Real Caffe as a reference for a user's own model: running it, comparing with it, plotting."""
