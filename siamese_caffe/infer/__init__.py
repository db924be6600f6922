"""Stage 4, inference: a job's net turning images into points (embedding, pair_input),
lists of images (predictions), visualizations and cluster plots; defaults in settings."""
