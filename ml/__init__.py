"""MoodSaaS emotion-model library: datasets, preprocessing, training, evaluation, registry.

The public surface is plain functions and dataclasses; nothing here imports Django models.
"""
