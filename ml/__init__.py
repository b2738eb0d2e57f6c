"""MoodSaaS emotion-model library: datasets, training, evaluation, export, registry writing.

Sits on :mod:`inference` (classes, preprocessing, registry reading, serving) and never the
other way round. Plain functions and dataclasses; no Django (its Django surface is the
``modelversions`` app).
"""
