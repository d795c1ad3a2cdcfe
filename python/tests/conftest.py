"""The suite runs against the installed package (a fresh virtual environment with the wheel),
not the source tree."""

pytest_plugins = ["pytester"]
