"""``/widget.js`` as served: the file's code, line for line, without its long opening comment
and its indentation (bytes every visitor downloads)."""

from __future__ import annotations

from importlib.resources import files

from activity_api.widget import WIDGET_JS, served


def test_served_script_keeps_every_line_of_code_and_drops_the_reader_notes() -> None:
    source = files("activity_api").joinpath("static/widget.js").read_text("utf-8")
    script = WIDGET_JS.decode()
    code = source.split("*/", 1)[1]
    assert script.splitlines()[1:] == [line.strip() for line in code.splitlines() if line.strip()]
    assert script.splitlines()[0] == source.splitlines()[0] + " */"
    assert "Attributes:" in source and "Attributes:" not in script
    assert len(WIDGET_JS) < len(source.encode()) * 0.9


def test_a_string_keeps_its_inner_spaces_and_a_script_without_comment_is_kept() -> None:
    assert served('  var a = "x  y";\n\n    f(a);\n') == b'var a = "x  y";\nf(a);'
    assert served("/* one\n * two\n */\nvar a;") == b"/* one */\nvar a;"
