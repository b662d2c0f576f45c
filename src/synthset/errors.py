"""The one exception type users see: it always names the file, field or value at fault."""


class SynthsetError(Exception):
    """A problem with the user's input or environment, explained in plain words."""


def without_password(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages, logs and tags."""
    import re

    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
