"""Render a job's report page to a PNG with headless Chromium (Debian's ``chromium`` package).

    python scripts/render_report.py JOB_ID [--base-url http://127.0.0.1:8000] [--out report.png]
    python scripts/render_report.py --html saved-report.html --out report.png

The suite does not need Chromium; this is for looking at the page as a person sees it.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

log = logging.getLogger("render_report")

#: Flags for a headless, sandbox-free, quiet Chromium that talks to nothing but the page it renders.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)
#: Browser window size in CSS pixels (width, height) of the screenshot.
WINDOW = (1280, 2400)
#: Seconds Chromium may take to render the page.
RENDER_TIMEOUT = 60


def find_chromium() -> str:
    """The Chromium executable on PATH."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("no chromium on PATH; install it with `apt-get install -y chromium`")


def render(url: str, out: Path, window: tuple[int, int] = WINDOW) -> None:
    """Screenshot ``url`` into ``out`` (PNG)."""
    with tempfile.TemporaryDirectory(prefix="lossdoctor-chromium-") as profile:
        command = [
            find_chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={window[0]},{window[1]}",
            f"--screenshot={out.resolve()}",
            url,
        ]
        subprocess.run(command, check=True, timeout=RENDER_TIMEOUT, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    """Render a job's report (fetched from the API, or a saved HTML file) to a PNG."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("job_id", nargs="?", help="job whose report to render")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the API's base URL")
    parser.add_argument("--html", type=Path, help="render this saved report page instead")
    parser.add_argument("--out", type=Path, default=Path("report.png"), help="PNG to write")
    parser.add_argument("--height", type=int, default=WINDOW[1], help="window height in CSS pixels")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lossdoctor-report-") as tmp:
        if args.html is not None:
            page = args.html.resolve()
        elif args.job_id:
            page = Path(tmp) / "report.html"
            with urllib.request.urlopen(f"{args.base_url}/v1/jobs/{args.job_id}/report", timeout=60) as r:
                page.write_bytes(r.read())
        else:
            parser.error("give a JOB_ID or --html")
        render(page.as_uri(), args.out, (WINDOW[0], args.height))
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
