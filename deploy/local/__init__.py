"""Pipewarden on one host: every process under supervisord, one deployment file (``pipewarden.yaml``).

``python -m deploy.local {up,status,down,logs,token}`` (``make up`` ...); see ``deployment.py``.
"""
