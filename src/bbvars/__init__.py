"""bbvars: push key/values into Bitbucket Pipelines variables."""

__version__ = "0.1.0"
