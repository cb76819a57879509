"""Growing a scrollable widget without a layout of the whole screen.

Setting ``virtual_size`` asks for a layout, and a layout redraws every widget on the screen:
with output flushed every 50 ms, that was most of what the dashboard did. A widget whose own
size does not depend on its content (a log pane; the host table once it is as tall as it may
be) needs only its scrollbars and scroll offsets brought up to date.
"""

from __future__ import annotations

from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.widget import Widget


def set_virtual_size(widget: ScrollView, size: Size) -> None:
    """Set ``widget``'s scrollable size without a layout; only for a widget that has been laid
    out and whose own size does not depend on it."""
    widget.set_reactive(Widget.virtual_size, size)
    widget._scroll_update(size)
