"""Lifecycle markers a liaison writes to stdout; ``python -m liaison.constants`` prints them as JSON."""
import json

START_MARKER = "LIAISON:CONNECTED"
STOP_MARKER = "LIAISON:DISCONNECTED"


def main():
    """Print the markers as one JSON object, for frontends that read them at start-up."""
    print(json.dumps({"START_MARKER": START_MARKER, "STOP_MARKER": STOP_MARKER}))


if __name__ == "__main__":
    main()
