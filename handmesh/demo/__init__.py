"""Demos: ``python -m handmesh.demo.<name>``."""
