"""Models the recipe runs on: small real models built offline and cached (`builtin`), and the
checks made before an engine or a training starts that a model folder or adapter is usable
(`checks`)."""
