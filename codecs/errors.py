class CodecError(ValueError):
    """A message that cannot be decoded; `reason` is short and goes into the dead-letter record."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
