"""platewatch engine: the library behind the `platewatch` command and the Faust agents."""

__version__ = "0.1.0"
