"""Where processes run: the shape of the cluster a run uses (`placement`), one `Launcher` per way
of starting a training job (`torchrun` on this node, `ray_job` on a Ray cluster, `slurm` inside an
allocation; `base` declares the interface), Ray actors' environment and reservations
(`ray_cluster`), and supervised process trees with logs (`proctree`)."""
