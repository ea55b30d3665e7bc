"""Fixtures for tests with a real napari viewer, real Qt and real thread workers."""

from __future__ import annotations

import pytest
from napari.utils.notifications import notification_manager

from napari_singan._napari.models import MODELS


@pytest.fixture
def notes():
    """Messages of every napari notification shown during the test."""
    seen: list[str] = []

    def record(event):
        seen.append(str(event.value.message if hasattr(event, "value") else event.message))

    notification_manager.notification_ready.connect(record)
    yield seen
    notification_manager.notification_ready.disconnect(record)


@pytest.fixture(autouse=True)
def empty_model_list():
    """Every test starts with an empty plugin-wide model list."""
    for name in MODELS.names():
        MODELS.remove(name)
    yield


def wait_idle(qtbot, widget, timeout=120_000):
    """Wait until the widget's worker has finished."""
    qtbot.waitUntil(lambda: not widget.runner.is_running, timeout=timeout)


def tiny_settings(widget, iters=12):
    """Configure a Train widget for a few-second run."""
    widget.max_size.value = 32
    widget.min_size.value = 14
    widget.iters.value = iters
    widget.coarsest_iters.value = 0  # as every other scale
    widget.device.value = "cpu"
