"""Weights and how to run them: model files (provenance, sha256), ONNX sessions and encoders, the build-time embedder, the cross-encoder, the trained reader."""
