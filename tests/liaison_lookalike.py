"""Called code in a module whose name starts like liaison's: its frames are not liaison's."""


def fail(message):
    raise ValueError(message)
