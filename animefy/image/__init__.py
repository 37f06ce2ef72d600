"""Image stages: decode, matte, faces, regions, stylize, compose, variations, and the image pipeline."""
