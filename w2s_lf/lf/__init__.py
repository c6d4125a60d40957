"""LLaMA-Factory: training configs and presets (`configs`, `shipped`), datasets and
`dataset_info.json` (`datasets`), our templates (`templates`, registered in every process by
`hook` and `cli`), checks before launch (`validate`), and training or merging a model (`train`)."""
