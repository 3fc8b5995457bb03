"""A function in a file of its own, for traceback tests that hide others."""


def raise_value_error(text: str):
    raise ValueError(text)
