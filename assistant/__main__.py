from assistant.cli import program

raise SystemExit(program())
