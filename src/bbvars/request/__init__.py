"""What a run is asked to do: the settings table, the input documents (.env, JSON, YAML, `terraform output -json`),
the manifest, all validated before any request."""
