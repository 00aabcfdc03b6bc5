"""The `bbvars` command: the argparse tree (main) and one module per command, each with add_arguments(parser) and
run(args, redactor) -> exit code."""
