"""What a person would check on a page: its geometry at a viewport, and an axe-core pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser.app_client import Person

AXE = Path(__file__).parent / ".node" / "node_modules" / "axe-core" / "axe.min.js"

GEOMETRY = """(selectors) => {
  const box = (sel) => {
    const el = sel && document.querySelector(sel);
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return { top: r.top, bottom: r.bottom, left: r.left, right: r.right,
             height: r.height, width: r.width };
  };
  const videos = [...document.querySelectorAll('video')]
    .map((v) => v.getBoundingClientRect().height);
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: innerWidth,
    innerHeight: innerHeight,
    topbar: box('.topbar'),
    video: videos.length ? Math.max(...videos) : 0,
    stage: box('.tiles'),
    ...Object.fromEntries(Object.entries(selectors).map(([k, s]) => [k, box(s)])),
  };
}"""


async def geometry(person: Person, **selectors: str) -> dict[str, Any]:
    """The page's width, the top bar, the tallest video, and the box of each selector."""
    result: dict[str, Any] = await person.evaluate(GEOMETRY, selectors)
    return result


def assert_fits(g: dict[str, Any]) -> None:
    """No horizontal overflow and a compact top bar."""
    assert g["scrollWidth"] <= g["innerWidth"], g
    assert g["topbar"] is not None, g
    assert g["topbar"]["height"] <= 64, g


def assert_inside(g: dict[str, Any], key: str) -> None:
    """The element is on screen without scrolling."""
    box = g[key]
    assert box is not None, f"{key} missing: {g}"
    assert box["top"] >= 0, (key, g)
    assert box["bottom"] <= g["innerHeight"], (key, g)
    assert box["left"] >= 0, (key, g)
    assert box["right"] <= g["innerWidth"], (key, g)


async def axe_violations(person: Person) -> list[dict[str, Any]]:
    """axe-core's violations of serious or critical impact on the page as it is now."""
    assert AXE.exists(), f"{AXE} is missing: run scripts/node-deps.sh"
    if not await person.evaluate("() => Boolean(window.axe)"):
        await person.page.add_script_tag(path=AXE)
    found: list[dict[str, Any]] = await person.evaluate(
        """async () => {
          const result = await axe.run(document, { resultTypes: ['violations'] });
          return result.violations
            .filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                           nodes: v.nodes.slice(0, 5)
                             .map((n) => n.target.join(' ') + ' :: ' + n.failureSummary) }));
        }""",
        timeout=60,
    )
    return found
