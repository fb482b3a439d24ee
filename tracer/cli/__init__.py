"""Command-line interface: one module per command, each thin (parse, call the library, print)."""
