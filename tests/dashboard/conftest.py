"""Dashboard test setup."""

from __future__ import annotations

from pytest_textual_snapshot import SVGImageExtension

# pytest-textual-snapshot 1.0 sets the file extension under the name older syrupy releases
# read (`_file_extension`); the syrupy in uv.lock reads `file_extension`, and would store the
# snapshots as `.raw`. Keep them `.svg`, viewable as what they are.
SVGImageExtension.file_extension = "svg"
