"""A table that draws only the rows on screen: what the host table needs at a thousand hosts.

Textual's ``DataTable`` keeps and measures every cell of every row; rebuilding one of a
thousand rows (a task switch, a filter) costs a fifth of a second, the whole budget of a key
press. Here the rows are plain values; a row's cells are made only when it is drawn (and kept
until it changes), so showing a thousand rows costs about as much as showing twenty. Columns
have fixed widths, but one that is sized to its widest cell by the caller and the last, which
takes the rest of the line.

It reads like a ``DataTable`` (a bold header, a row cursor, the theme's cursor colours) and
answers the same questions (``row_count``, ``cursor_row``, ``get_row_at``, ``get_cell``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from nexus_tui.bindings import MOVE
from nexus_tui.widgets.scrolling import set_virtual_size

Row = TypeVar("Row")
PADDING = 1  # blank cells either side of each cell, as a DataTable has


class RowTable(ScrollView, Generic[Row], can_focus=True):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"row-table--header", "row-table--cursor"}
    BINDINGS: ClassVar[list[BindingType]] = [
        *MOVE,
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
    ]
    DEFAULT_CSS = """
    RowTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .row-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .row-table--header {
                background-tint: $foreground 5%;
            }
        }
        & > .row-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .row-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    class Highlighted(Message):
        """The cursor moved to another row (or the rows under it changed)."""

        def __init__(self, table: RowTable[Any]) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> RowTable[Any]:
            return self.table

    class Selected(Highlighted):
        """Enter was pressed on the cursor's row."""

    def __init__(
        self,
        columns: Sequence[tuple[str, str, int | None]],
        cells: Callable[[Row], Sequence[Text]],
        *,
        id: str | None = None,
    ) -> None:
        """``columns``: (key, label, width); a width of None is set with ``fit`` (else the
        label's), and the last column takes what is left. ``cells`` makes a row's cells."""
        super().__init__(id=id)
        self._columns = list(columns)
        self._widths = [len(label) if width is None else width for _, label, width in columns]
        self._make_cells = cells
        self.rows: list[Row] = []
        self._drawn: dict[int, Sequence[Text]] = {}  # row → its cells, made when first drawn
        self.cursor_row = 0

    # -- the rows --

    def set_rows(self, rows: Sequence[Row], cursor: int | None = None) -> None:
        """Replace every row; the cursor goes to ``cursor`` (else stays, within the rows)."""
        self.rows = list(rows)
        self._drawn.clear()
        self._resize()
        self._move(self.cursor_row if cursor is None else cursor, always=True)
        self.refresh()

    def set_row(self, index: int, row: Row) -> None:
        """Replace one row: it is drawn anew only if it is on screen."""
        self.rows[index] = row
        self._drawn.pop(index, None)
        top = round(self.scroll_y)
        if top <= index < top + self._visible_rows():
            self.refresh_line(index - top + 1)

    def fit(self, column: str, texts: Sequence[str]) -> None:
        """Size ``column`` to the widest of ``texts`` (and its label)."""
        index = [key for key, _, _ in self._columns].index(column)
        label = self._columns[index][1]
        self._widths[index] = max((len(text) for text in texts), default=0) or len(label)
        self._widths[index] = max(self._widths[index], len(label))

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def get_row_at(self, index: int) -> Sequence[Text]:
        return self._cells(index)

    def get_cell_at(self, index: int, column: str) -> Text:
        return self._cells(index)[[key for key, _, _ in self._columns].index(column)]

    def _cells(self, index: int) -> Sequence[Text]:
        cells = self._drawn.get(index)
        if cells is None:
            cells = self._drawn[index] = self._make_cells(self.rows[index])
        return cells

    # -- the cursor --

    def move_cursor(self, row: int) -> None:
        self._move(row)

    def _move(self, row: int, *, always: bool = False) -> None:
        row = max(0, min(row, len(self.rows) - 1))
        if row != self.cursor_row or always:
            self.cursor_row = row
            self._reveal()
            self.refresh()
            self.post_message(self.Highlighted(self))

    def _reveal(self) -> None:
        """Scroll so the cursor's row is on screen."""
        top, shown = round(self.scroll_y), self._visible_rows()
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif shown and self.cursor_row >= top + shown:
            self.scroll_to(y=self.cursor_row - shown + 1, animate=False, immediate=True)

    def _visible_rows(self) -> int:
        return max(self.scrollable_content_region.height - 1, 0)  # the header takes a line

    def rows_in_view(self) -> range:
        """The rows on screen now."""
        top = round(self.scroll_y)
        return range(top, min(top + self._visible_rows(), len(self.rows)))

    def action_cursor_down(self) -> None:
        self._move(self.cursor_row + 1)

    def action_cursor_up(self) -> None:
        self._move(self.cursor_row - 1)

    def action_page(self, pages: int) -> None:
        self._move(self.cursor_row + pages * max(self._visible_rows(), 1))

    def action_select_cursor(self) -> None:
        if self.rows:
            self.post_message(self.Selected(self))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None and offset.y >= 1:  # below the header
            self._move(round(self.scroll_y) + offset.y - 1)

    def _resize(self) -> None:
        """The scrollable size: every row and the header, and no width (a table never scrolls
        sideways), so a table shown again at another width needs no layout. When the table is
        as tall as it may be both before and after, the screen's layout stays as it is and only
        the scrollbar changes: a layout costs every widget a redraw."""
        size = Size(0, len(self.rows) + 1)
        shown = self.scrollable_content_region.height
        if shown and self.virtual_size.height > shown and size.height >= shown:
            set_virtual_size(self, size)
        else:
            self.virtual_size = size

    def on_resize(self) -> None:
        self._resize()
        self._reveal()

    # -- drawing --

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            header = [Text(label) for _, label, _ in self._columns]
            return self._strip(header, base + self.get_component_rich_style("row-table--header"))
        index = round(self.scroll_y) + y - 1
        if index >= len(self.rows):
            return Strip.blank(width, base)
        style = base
        if index == self.cursor_row:
            style = base + self.get_component_rich_style("row-table--cursor")
        return self._strip(self._cells(index), style)

    def _strip(self, cells: Sequence[Text], style: Style) -> Strip:
        """One line of cells, each padded and cut to its column's width; the last column
        takes what the others leave (and the scrollbar)."""
        width = self.scrollable_content_region.width
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        used = 0
        for number, cell in enumerate(cells):
            room = self._widths[number]
            if number == len(cells) - 1:
                room = max(width - used - 2 * PADDING, 0)
            text = cell.copy()
            text.truncate(room, overflow="ellipsis")
            if cell.justify == "right":
                text.pad_left(room - text.cell_len)
            else:
                text.pad_right(room - text.cell_len)
            line.append(" " * PADDING).append_text(text).append(" " * PADDING)
            used += room + 2 * PADDING
        segments = Segment.apply_style(line.render(self.app.console, end=""), style)
        return Strip(segments).crop_extend(0, width, style)
