"""Writes docs/bland-surface.json: what Bland's docs say of each SMS endpoint (method, path,
body fields, error codes), with each page's path and revision, read from a checkout (or a bare
clone) of Bland's docs repository. tests/it/drift.rs compares it with the simulator's OpenAPI
document; when Bland's docs change, run this again and the test shows what to do.

    python3 docs/surface/extract.py PATH_TO_BLAND_DOCS_GIT [REV]

Pages newer than the checkout (read elsewhere) are kept in docs/surface/later-pages.json and
merged in; an entry there wins over the checkout's page for the same method and path.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = re.compile(r"^api-v1/[a-z]+/(sms-[^/]*|citation-schemas-backfill|files-attach)\.mdx$")


def git(repo, *args):
    return subprocess.run(["git", "--git-dir", repo, *args], check=True, capture_output=True,
                          text=True).stdout


def entry(page, text, revision):
    api = re.search(r'^api:\s*"([A-Z]+)\s+https://api\.bland\.ai(/[^"]+)"', text, re.M)
    if not api:
        return None
    method, path = api.group(1), re.sub(r"\{[^}]+\}", "{id}", api.group(2))
    body = set(re.findall(r'<ParamField\s+body="([A-Za-z0-9_]+)', text))
    # Older pages list the body as bullets: "- `businessName` (string): …".
    body |= set(re.findall(r"^- `([A-Za-z0-9_]+)` \((?:string|number|integer|boolean|array|object)", text, re.M))
    # Error codes: UPPER_SNAKE words in backticks, and the `error` of the examples' answers.
    codes = set(re.findall(r"`([A-Z][A-Z0-9]+(?:_[A-Z0-9]+)+)`", text))
    codes |= set(re.findall(r'"error"\s*:\s*"([A-Z][A-Z0-9]+(?:_[A-Z0-9]+)+)"', text))
    body, codes = sorted(body), sorted(codes)
    return {"method": method, "path": path, "page": page, "revision": revision,
            "body": body, "error_codes": codes}


def main():
    repo = sys.argv[1]
    rev = sys.argv[2] if len(sys.argv) > 2 else "HEAD"
    files = [f for f in git(repo, "ls-tree", "-r", "--name-only", rev, "api-v1").split()
             if PAGES.match(f)]
    entries = {}
    for f in files:
        text = git(repo, "show", f"{rev}:{f}")
        revision = git(repo, "log", "-1", "--format=%h", rev, "--", f).strip()
        e = entry(f, text, revision)
        if e:
            entries[(e["method"], e["path"])] = e
    later = json.loads((ROOT / "docs/surface/later-pages.json").read_text())
    for e in later:
        entries[(e["method"], e["path"])] = e
    out = sorted(entries.values(), key=lambda e: (e["path"], e["method"]))
    (ROOT / "docs/bland-surface.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(out)} endpoints written to docs/bland-surface.json")


if __name__ == "__main__":
    main()
