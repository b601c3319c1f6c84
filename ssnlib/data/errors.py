"""The one error type the datasets package raises for bad input."""


class DatasetError(ValueError):
    """A dataset cannot be opened or read; the message names the file (and member or key)."""
