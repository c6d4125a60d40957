"""Test helpers: fake GPUs, free ports, a local Ray cluster, a scratch repository root, one-job generation."""
