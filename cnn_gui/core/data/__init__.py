"""Datasets: the registry, IDX files, downloads, the user's image folders."""
