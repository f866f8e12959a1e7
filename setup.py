"""Shim for tools (and setuptools 40 on Python 3.6) that need a setup.py."""
from setuptools import setup

setup()
