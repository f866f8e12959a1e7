"""Stands in for the few psychopy objects PsychoPy Studio drives at start-up, for tests/test_dropin.py.

Shaped after psychopy's ``psychopy/alerts/liaison.py`` (an alert handler that
pushes ``{"tag": "alert", "message": ...}`` through the liaison), its alert
registry, its ``prefs`` object and ``activatePlugins``.
"""
import json

_handlers = []
activated = []


class Alert:
    """An alert as psychopy builds it; ``getJSON`` gives what Studio shows."""

    def __init__(self, code, msg):
        self.code = code
        self.msg = msg

    def getJSON(self):
        return json.dumps({"code": self.code, "msg": self.msg})


class LiaisonAlertHandler:
    """psychopy.alerts.liaison.LiaisonAlertHandler: sends each alert to the frontend as it is."""

    def __init__(self, liaison):
        self.liaison = liaison

    def receiveAlert(self, msg):
        self.liaison.send({"tag": "alert", "message": msg.getJSON()})


def addAlertHandler(handler):
    _handlers.append(handler)


def alert(code, msg):
    """Raise an alert, as psychopy code does: every handler receives it."""
    for handler in _handlers:
        handler.receiveAlert(Alert(code, msg))


class Preferences:
    """psychopy.preferences.prefs: loads devices and preferences from files Studio names."""

    def __init__(self):
        self.devices_file = None
        self.loaded = None

    def setDevicesFile(self, path):
        self.devices_file = path

    def fromJSON(self, path):
        with open(path) as source:
            self.loaded = json.load(source)
        return self.loaded


prefs = Preferences()


def activatePlugins():
    activated.append(True)
