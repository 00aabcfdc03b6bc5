"""Surfaces: each turns its own vocabulary (CLI flags and environment, pipe variables, action inputs, a Terraform
query) into settings, hands them to the engine, and renders the one result in its own format."""
