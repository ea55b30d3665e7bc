"""napari adapters: layers <-> arrays, the plugin-wide model list, reader/writer, sample data.

They work with napari objects but never import Qt, so they run headless.
"""
