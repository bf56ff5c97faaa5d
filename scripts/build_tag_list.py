"""Build the shipped prompt-autocomplete tag list from the hand-written source data.

Run from the repository root (pure standard library, no torch, deterministic):

    python3 scripts/build_tag_list.py            # writes data/tags/tags.csv and data/tags/tags_zh.csv
    python3 scripts/build_tag_list.py --check    # rebuild in memory, fail if the files are stale

Inputs (all written for this project, nothing copied from Danbooru dumps or other tag lists):

* ``data/tags/source/vocabulary_*.json`` - the base vocabulary, by category: tag, aliases and
  Simplified Chinese translations.
* ``data/tags/source/compose.json`` - composition families that combine parts on purpose
  (hair colour + ``hair``, colour + garment, adjective + place, ``holding_`` + item ...), with
  Chinese templates and a few hand-fixed translations.
* ``data/tags/source/popular.json`` - the tags people put in nearly every Stable Diffusion prompt.
* ``diffusion/data/clip_tokenizer/vocab.json`` and ``merges.txt`` - CLIP's BPE (MIT), used only
  to estimate popularity.

Outputs:

* ``data/tags/tags.csv``: ``name,category,count,aliases`` (aliases comma-separated in one CSV
  field, which the csv module quotes when it holds a comma), sorted by count (highest first),
  then name.
* ``data/tags/tags_zh.csv``: ``tag,translation`` with alternatives separated by ``|``, in the
  same order.

How ``count`` is made (an estimate, not a measurement - no usage data went into it):

CLIP's BPE merges were learnt in order of pair frequency over CLIP's training captions, so the
merge that first turns a whole word into one token ``word</w>`` comes earlier the more common
the word is. For a word ``w``:

    rank(w) = id(w</w>) - 511            if w</w> is one token (ids 0..511 are single bytes,
                                          so this is the 1-based index of its merge)
    rank(w) = 5000                       if w is one character (CLIP splits digits apart, so
                                          the "1" of 1girl or the "8" of 8k lands here)
    rank(w) = 48894 * 2 ** (k - 1)       if BPE splits w into k > 1 pieces: it never became a
                                          token, so it is rarer than every whole-word token
                                          (48894 = number of merges)

    f(w) = 1 / max(1000, rank(w))        Zipf: frequency ~ 1/rank; the 1000 commonest caption
                                          words are treated as equally common, since their
                                          exact order ("on", "the", "day") says nothing about tags

A tag is split like a prompt (drop a trailing Danbooru-style qualifier such as ``_(weapon)``,
underscores -> spaces, CLIP's pre-tokenizer, punctuation skipped). Over its n words, leaving
out the stop words a/an/the/of/on/in/at/to/with/and/or/for/from/by/as/is/it (which still count
in n):

    F(tag) = sqrt(min_i f(w_i) * geometric_mean_i f(w_i)) * 0.3 ** (n - 1)

i.e. a multi-word tag is about as common as its rarest word, nudged up a little by its
commoner words, and 0.3 times rarer per extra word. Then

    S(tag) = F(tag) * B_category * B_popular * B_composed

    B_category = 10 for quality, 4 for meta and negative (tags used in nearly every prompt or
                 negative prompt whatever the subject), 1 otherwise
    B_popular  = 50 for the tags listed in popular.json (an editorial judgement of everyday
                 Stable Diffusion tags), 1 otherwise
    B_composed = 0.5 for tags made by composition rather than written by hand

and finally ``count = max(1, round(1_000_000 * S(tag) / max S))``: the top tag has 1,000,000,
every tag at least 1. The numbers only order suggestions; they are not real post counts.
"""
from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIR = ROOT / "data" / "tags" / "source"
OUT_DIR = ROOT / "data" / "tags"
CLIP_DIR = ROOT / "diffusion" / "data" / "clip_tokenizer"

CATEGORIES = (
    "quality", "style", "lighting", "camera", "composition", "character", "hair", "eyes",
    "clothing", "accessory", "colour", "object", "animal", "nature", "scenery", "weather",
    "time", "architecture", "food", "vehicle", "fantasy", "mood", "meta", "negative",
)
NAME_RE = re.compile(r"^[a-z0-9_()'!?.:+-]+$")
MAX_ZH = 4            # translation alternatives kept per tag
MAX_ALIASES = 8       # aliases kept per tag

# popularity formula constants (documented in the module docstring and data/tags/README.md)
N_MERGES = 48894
CHAR_RANK = 5000
RANK_FLOOR = 1000
STOP_WORDS = frozenset("a an the of on in at to with and or for from by as is it".split())
WORD_PENALTY = 0.3
CATEGORY_BOOST = {"quality": 10.0, "meta": 4.0, "negative": 4.0}
POPULAR_BOOST = 50.0
COMPOSED_FACTOR = 0.5
TOP_COUNT = 1_000_000

# British/American spellings: every tag containing one side gets the other as an alias
SPELLING_PAIRS = (
    ("color", "colour"), ("gray", "grey"), ("armor", "armour"), ("jewelry", "jewellery"),
    ("center", "centre"), ("theater", "theatre"), ("favorite", "favourite"),
)
# CLIP's pre-tokenizer, with \p{L} / \p{N} spelt for the standard re module
PRETOKEN_RE = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+|_+", re.UNICODE)
QUALIFIER_RE = re.compile(r"_\([a-z0-9_ -]+\)$")
PLACEHOLDER_RE = re.compile(r"\{([a-z])(?:\.([12]))?\}")


class BuildError(Exception):
    pass


class Tag:
    __slots__ = ("name", "category", "zh", "aliases", "composed", "count")

    def __init__(self, name: str, category: str, zh: list[str], aliases: list[str], composed: bool):
        self.name = name
        self.category = category
        self.zh = zh
        self.aliases = aliases
        self.composed = composed
        self.count = 0


# ---------------------------------------------------------------- reading the sources

def _no_duplicate_keys(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise BuildError(f"duplicate key {key!r} in a source JSON object")
        out[key] = value
    return out


def load_json(path: Path):
    with path.open(encoding="utf-8") as fh:
        return json.load(fh, object_pairs_hook=_no_duplicate_keys)


def split_zh(text: str) -> list[str]:
    out = []
    for part in text.split("|"):
        part = part.strip()
        if part and part not in out:
            out.append(part)
    return out


def parse_value(value, where: str) -> tuple[list[str], list[str] | None]:
    """(translations, aliases) of a vocabulary or words value; aliases None = not given."""
    if isinstance(value, str):
        return split_zh(value), None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return split_zh(value[0]), [v.strip() for v in value[1:]]
    raise BuildError(f"{where}: value must be a string or a list of strings, got {value!r}")


def load_vocabulary() -> dict[str, Tag]:
    tags: dict[str, Tag] = {}
    files = sorted(SOURCE_DIR.glob("vocabulary*.json"))
    if not files:
        raise BuildError(f"no vocabulary*.json in {SOURCE_DIR}")
    for path in files:
        data = load_json(path)
        for category, entries in data.items():
            if category.startswith("_"):
                continue
            if category not in CATEGORIES:
                raise BuildError(f"{path.name}: unknown category {category!r}")
            for name, value in entries.items():
                if name.startswith("_"):
                    continue
                where = f"{path.name}:{category}:{name}"
                if not NAME_RE.match(name):
                    raise BuildError(f"{where}: bad tag name")
                if name in tags:
                    raise BuildError(f"{where}: already defined in category {tags[name].category}")
                zh, aliases = parse_value(value, where)
                if not zh:
                    raise BuildError(f"{where}: no translation")
                tags[name] = Tag(name, category, zh, aliases or [], composed=False)
    return tags


# ---------------------------------------------------------------- composition

class Lexicon:
    """Part lookup for composition: compose.json 'words' first, then the base vocabulary."""

    def __init__(self, words: dict, base: dict[str, Tag]):
        self.base = base
        self.words = {}
        for word, value in words.items():
            if word.startswith("_"):
                continue
            zh, aliases = parse_value(value, f"compose.json:words:{word}")
            if aliases is None:
                aliases = list(base[word].aliases) if word in base else []
            self.words[word] = (zh, aliases)

    def get(self, word: str, where: str) -> tuple[list[str], list[str]]:
        if word in self.words:
            return self.words[word]
        if word in self.base:
            return self.base[word].zh, self.base[word].aliases
        raise BuildError(f"{where}: part {word!r} is neither in compose.json words nor a base tag")


def expand_zh(templates: list[str], parts: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for template in templates:
        keys = []   # placeholders that take every alternative
        for m in PLACEHOLDER_RE.finditer(template):
            if m.group(2) is None and m.group(1) not in keys:
                keys.append(m.group(1))
        for combo in itertools.product(*(parts[k] for k in keys)):
            chosen = dict(zip(keys, combo))

            def sub(m, chosen=chosen):
                key, idx = m.group(1), m.group(2)
                alts = parts[key]
                if idx is None:
                    return chosen[key]
                i = int(idx) - 1
                return alts[i] if i < len(alts) else alts[0]

            text = PLACEHOLDER_RE.sub(sub, template)
            if text not in out:
                out.append(text)
    return out[:MAX_ZH]


def fill(pattern: str, values: dict[str, str]) -> str:
    return re.sub(r"\{([a-z])\}", lambda m: values[m.group(1)], pattern)


def compose(base: dict[str, Tag], spec: dict) -> tuple[list[Tag], dict[str, int]]:
    lexicon = Lexicon(spec.get("words", {}), base)
    lists = spec.get("lists", {})
    made: list[Tag] = []
    per_family: dict[str, int] = {}
    for family in spec["families"]:
        fname, pattern, category = family["name"], family["pattern"], family["category"]
        if category not in CATEGORIES:
            raise BuildError(f"family {fname!r}: unknown category {category!r}")
        count = 0
        for set_no, part_set in enumerate(family["sets"]):
            templates = part_set.get("zh", family["zh"])
            keys = [k for k in part_set if k != "zh"]
            if sorted(keys) != sorted(set(re.findall(r"\{([a-z])\}", pattern))):
                raise BuildError(f"family {fname!r} set {set_no}: parts {keys} do not match {pattern!r}")
            choices = []
            for key in keys:
                items = part_set[key]
                if isinstance(items, str):
                    if not items.startswith("@") or items[1:] not in lists:
                        raise BuildError(f"family {fname!r}: unknown list {items!r}")
                    items = lists[items[1:]]
                choices.append(items)
            for combo in itertools.product(*choices):
                values = dict(zip(keys, combo))
                name = fill(pattern, values)
                where = f"family {fname!r}: {name}"
                if not NAME_RE.match(name):
                    raise BuildError(f"{where}: bad tag name")
                parts_zh, parts_alias = {}, {}
                for key, word in values.items():
                    parts_zh[key], parts_alias[key] = lexicon.get(word, where)
                zh = expand_zh(templates, parts_zh) if all(parts_zh.values()) else []
                aliases = []
                for key, word in values.items():
                    for alias in parts_alias[key]:
                        alt = fill(pattern, {**values, key: alias})
                        if NAME_RE.match(alt) and alt not in aliases:
                            aliases.append(alt)
                made.append(Tag(name, category, zh, aliases, composed=True))
                count += 1
        per_family[fname] = count
    return made, per_family


def spelling_aliases(name: str) -> list[str]:
    out = []
    for a, b in SPELLING_PAIRS:
        for src, dst in ((a, b), (b, a)):
            if src in name:
                alt = name.replace(src, dst)
                if alt != name and alt not in out:
                    out.append(alt)
    return out


# ---------------------------------------------------------------- popularity from CLIP's BPE

class ClipRanks:
    def __init__(self, clip_dir: Path):
        self.vocab = json.loads((clip_dir / "vocab.json").read_text(encoding="utf-8"))
        lines = (clip_dir / "merges.txt").read_text(encoding="utf-8").split("\n")
        if not lines[0].startswith("#version"):
            raise BuildError(f"{clip_dir}/merges.txt: missing '#version' header")
        merges = [tuple(line.split()) for line in lines[1:] if line]
        if len(merges) != N_MERGES:
            raise BuildError(f"expected {N_MERGES} merges in {clip_dir}, found {len(merges)}")
        self.merge_rank = {pair: i for i, pair in enumerate(merges)}
        self._cache: dict[str, float] = {}

    def bpe_pieces(self, word: str) -> list[str]:
        symbols = list(word[:-1]) + [word[-1] + "</w>"]
        while len(symbols) > 1:
            best = None
            for i in range(len(symbols) - 1):
                r = self.merge_rank.get((symbols[i], symbols[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            symbols = symbols[:i] + [symbols[i] + symbols[i + 1]] + symbols[i + 2:]
        return symbols

    def rank(self, word: str) -> float:
        if word in self._cache:
            return self._cache[word]
        if len(word) == 1:
            r = float(CHAR_RANK)
        elif word + "</w>" in self.vocab:
            r = float(self.vocab[word + "</w>"] - 511)
        else:
            r = float(N_MERGES * 2 ** (len(self.bpe_pieces(word)) - 1))
        self._cache[word] = r
        return r

    def words_of(self, name: str) -> list[str]:
        text = QUALIFIER_RE.sub("", name).replace("_", " ").lower()
        return [p for p in PRETOKEN_RE.findall(text)
                if not p.startswith("'") and any(ch.isalnum() for ch in p)]

    def frequency(self, name: str) -> float:
        words = self.words_of(name) or [name]
        content = [w for w in words if w not in STOP_WORDS] or words
        freqs = [1.0 / max(RANK_FLOOR, self.rank(w)) for w in content]
        geometric_mean = math.exp(sum(math.log(f) for f in freqs) / len(freqs))
        return math.sqrt(min(freqs) * geometric_mean) * WORD_PENALTY ** (len(words) - 1)


# ---------------------------------------------------------------- building

def build() -> tuple[list[Tag], dict]:
    base = load_vocabulary()
    spec = load_json(SOURCE_DIR / "compose.json")
    popular_spec = load_json(SOURCE_DIR / "popular.json")
    composed, per_family = compose(base, spec)

    tags: dict[str, Tag] = dict(base)
    merged_into_existing = 0
    for tag in composed:
        have = tags.get(tag.name)
        if have is None:
            tags[tag.name] = tag
            continue
        merged_into_existing += 1
        for alias in tag.aliases:
            if alias not in have.aliases:
                have.aliases.append(alias)
        if not have.zh:
            have.zh = tag.zh

    for name, text in spec.get("zh_overrides", {}).items():
        if name.startswith("_"):
            continue
        if name not in tags:
            raise BuildError(f"compose.json zh_overrides: {name!r} is not a tag")
        if not tags[name].composed:
            raise BuildError(f"compose.json zh_overrides: {name!r} is a base tag; edit the vocabulary")
        tags[name].zh = split_zh(text)[:MAX_ZH]

    names = set(tags)
    for tag in tags.values():
        aliases = []
        for alias in tag.aliases + spelling_aliases(tag.name):
            alias = alias.strip().lower().replace(" ", "_")
            if alias and NAME_RE.match(alias) and alias not in names and alias not in aliases:
                aliases.append(alias)
        tag.aliases = aliases[:MAX_ALIASES]

    popular = [p for p in popular_spec["tags"]]
    missing = [p for p in popular if p not in tags]
    if missing:
        raise BuildError(f"popular.json names unknown tags: {missing}")
    popular_set = set(popular)

    ranks = ClipRanks(CLIP_DIR)
    scores = {}
    for tag in tags.values():
        s = ranks.frequency(tag.name)
        s *= CATEGORY_BOOST.get(tag.category, 1.0)
        if tag.name in popular_set:
            s *= POPULAR_BOOST
        if tag.composed:
            s *= COMPOSED_FACTOR
        scores[tag.name] = s
    top = max(scores.values())
    for tag in tags.values():
        tag.count = max(1, round(TOP_COUNT * scores[tag.name] / top))

    ordered = sorted(tags.values(), key=lambda t: (-t.count, t.name))
    info = {
        "base": len(base),
        "composed_generated": len(composed),
        "composed_new": len(composed) - merged_into_existing,
        "per_family": per_family,
    }
    return ordered, info


def render(ordered: list[Tag]) -> tuple[str, str]:
    tags_buf = io.StringIO()
    w = csv.writer(tags_buf, lineterminator="\n")
    w.writerow(["name", "category", "count", "aliases"])
    for tag in ordered:
        w.writerow([tag.name, tag.category, tag.count, ",".join(tag.aliases)])
    zh_buf = io.StringIO()
    w = csv.writer(zh_buf, lineterminator="\n")
    w.writerow(["tag", "translation"])
    for tag in ordered:
        if tag.zh:
            w.writerow([tag.name, "|".join(tag.zh)])
    return tags_buf.getvalue(), zh_buf.getvalue()


def self_check(tags_text: str, zh_text: str) -> dict:
    rows = list(csv.reader(io.StringIO(tags_text)))
    assert rows[0] == ["name", "category", "count", "aliases"], rows[0]
    body = rows[1:]
    names = [r[0] for r in body]
    assert len(names) == len(set(names)), "duplicate tag names"
    per_category: dict[str, int] = {}
    prev = None
    for name, category, count, aliases in body:
        assert NAME_RE.match(name), f"bad name {name!r}"
        assert " " not in name and "," not in name and name == name.lower(), name
        assert category in CATEGORIES, (name, category)
        assert int(count) >= 1, (name, count)
        key = (-int(count), name)
        assert prev is None or prev < key, f"not sorted at {name}"
        prev = key
        for alias in filter(None, aliases.split(",")):
            assert NAME_RE.match(alias), (name, alias)
        per_category[category] = per_category.get(category, 0) + 1
    zh_rows = list(csv.reader(io.StringIO(zh_text)))
    assert zh_rows[0] == ["tag", "translation"], zh_rows[0]
    known = set(names)
    zh_names = [r[0] for r in zh_rows[1:]]
    assert len(zh_names) == len(set(zh_names)), "duplicate rows in tags_zh.csv"
    for tag, translation in zh_rows[1:]:
        assert tag in known, f"tags_zh.csv row for unknown tag {tag!r}"
        assert translation and all(translation.split("|")), (tag, translation)
    return {"tags": len(body), "translated": len(zh_names), "per_category": per_category}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the written files are stale")
    args = parser.parse_args(argv)
    try:
        ordered, info = build()
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    tags_text, zh_text = render(ordered)
    totals = self_check(tags_text, zh_text)
    tags_path, zh_path = OUT_DIR / "tags.csv", OUT_DIR / "tags_zh.csv"
    if args.check:
        stale = [p.name for p, text in ((tags_path, tags_text), (zh_path, zh_text))
                 if not p.exists() or p.read_text(encoding="utf-8") != text]
        if stale:
            print(f"stale: {', '.join(stale)} (run python3 scripts/build_tag_list.py)", file=sys.stderr)
            return 1
    else:
        tags_path.write_text(tags_text, encoding="utf-8")
        zh_path.write_text(zh_text, encoding="utf-8")
    print(f"base entries: {info['base']}, composed: {info['composed_generated']} generated, "
          f"{info['composed_new']} new")
    print(f"tags: {totals['tags']}, translated: {totals['translated']}")
    print("per category: " + ", ".join(f"{c} {totals['per_category'].get(c, 0)}" for c in CATEGORIES))
    if not args.check:
        print(f"wrote {tags_path.relative_to(ROOT)} and {zh_path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
