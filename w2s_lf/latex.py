"""Small, linear-time LaTeX helpers shared by data preparation and grading."""

from __future__ import annotations


def last_boxed(text: str, commands: tuple[str, ...] = ("\\boxed", "\\fbox")) -> str | None:
    """Content of the last ``\\boxed{...}`` (nested braces allowed), or None.

    Scans forward once from the last command, so 10,000 nested braces cost O(n), not O(n^2).
    """
    start = max(text.rfind(c) for c in commands)
    if start < 0:
        return None
    brace = text.find("{", start)
    if brace < 0:
        # "\boxed 5" form: the token after the space.
        rest = text[start:].split(" ", 1)
        return rest[1].split("$")[0].strip() if len(rest) == 2 else None
    depth = 0
    for i in range(brace, len(text)):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[brace + 1:i]
    return None
