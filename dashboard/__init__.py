"""Lesion Lens dashboard: Dash pages, case store, cache and JSON API.

Importing this package is cheap on purpose: gunicorn imports `dashboard.app`
in the master before forking, and TensorFlow is not fork-safe, so nothing here
imports TensorFlow or loads a model until a worker first needs a prediction.
"""
