"""`python -m speechgrade` runs the CLI."""

from .cli import main

main()
