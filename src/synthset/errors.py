"""The one exception type users see: it always names the file, field or value at fault."""


class SynthsetError(Exception):
    """A problem with the user's input or environment, explained in plain words."""
