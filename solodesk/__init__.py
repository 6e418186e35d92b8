"""SoloDesk: the desktop back office where AI agents propose and the founder approves."""

__version__ = "0.1.0"
