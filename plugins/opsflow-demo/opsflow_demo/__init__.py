"""opsflow-demo: a demo flow that creates files and undoes them on failure."""
