from bbvars.surfaces.cli.main import entry

entry()
