"""One module per command or surface; each has add_arguments(parser) and run(args, redactor) -> exit code."""
