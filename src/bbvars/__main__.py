from bbvars.main import entry

entry()
