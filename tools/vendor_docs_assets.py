"""Copy the Swagger UI and ReDoc builds the service serves at /docs and /redoc from the npm
packages pinned in tools/npm/package-lock.json into service/http/static/vendor (`make docs-assets`).

They are committed, so the API (and its image) needs neither Node nor a CDN at run time;
tests/service/test_docs_offline.py fails when the committed files differ from the pinned packages.

    python tools/vendor_docs_assets.py [--check]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = REPO_ROOT / "tools" / "npm" / "node_modules"
VENDOR_DIR = REPO_ROOT / "service" / "http" / "static" / "vendor"
# npm file -> file under VENDOR_DIR
ASSETS = {
    "swagger-ui-dist/swagger-ui-bundle.js": "swagger-ui/swagger-ui-bundle.js",
    "swagger-ui-dist/swagger-ui.css": "swagger-ui/swagger-ui.css",
    "swagger-ui-dist/LICENSE": "swagger-ui/LICENSE",
    "redoc/bundles/redoc.standalone.js": "redoc/redoc.standalone.js",
    "redoc/LICENSE": "redoc/LICENSE",
}


def package_versions() -> dict[str, str]:
    return {
        package: json.loads((NODE_MODULES / package / "package.json").read_text())["version"]
        for package in sorted({source.split("/", 1)[0] for source in ASSETS})
    }


def differing() -> list[str]:
    """Vendored files that are missing or differ from the installed npm packages."""
    return [
        target
        for source, target in ASSETS.items()
        if not (VENDOR_DIR / target).is_file()
        or (VENDOR_DIR / target).read_bytes() != (NODE_MODULES / source).read_bytes()
    ]


def vendor() -> None:
    for source, target in ASSETS.items():
        (VENDOR_DIR / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(NODE_MODULES / source, VENDOR_DIR / target)
    (VENDOR_DIR / "VERSIONS.json").write_text(json.dumps(package_versions(), indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the vendored files are stale")
    args = parser.parse_args(argv)
    if not NODE_MODULES.is_dir():
        print("tools/npm/node_modules is missing: run `make npm-packages` first", file=sys.stderr)
        return 2
    if args.check:
        stale = differing()
        print("stale: " + ", ".join(stale) if stale else "docs assets match the pinned npm packages")
        return 1 if stale else 0
    vendor()
    print(f"vendored {len(ASSETS)} files: {package_versions()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
