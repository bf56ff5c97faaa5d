"""The shipped tag list: generated from its sources (and up to date with them), big
enough to be useful, translated, and readable by the server's tag loader."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from studio_extras.tag_lists import TagLists, build

ROOT = Path(__file__).resolve().parent.parent


def test_the_csv_files_match_their_sources():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_tag_list.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_shipped_list_loads_with_translations_for_common_tags(tmp_path):
    merged = build(TagLists(ROOT / "data" / "tags", tmp_path / "no-user-tags").files())
    names = {row[0]: row for row in merged["tags"]}
    assert len(names) >= 4000 and not merged["problems"]
    assert all(source["skipped"] == 0 for source in merged["sources"])
    for tag in ("masterpiece", "best_quality", "1girl", "long_hair", "red", "sunset", "cat", "bokeh", "lowres"):
        assert tag in names, tag
        assert merged["translations"].get(tag), tag
    assert "红" in "".join(merged["translations"]["red"]) and "日落" in merged["translations"]["sunset"]
