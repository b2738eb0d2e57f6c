"""The Django surface of the model registry: the staff API over model versions and ``manage.py ml``.

The registry itself is a library: :mod:`inference.registry` reads it, :mod:`ml.registry`
writes it; this app only exposes them over HTTP and as a management command.
"""
