"""Reference ids for LatentTokenizer from transformers' `CLIPTokenizer` (transformers 5.24, tokenizers 0.23.3).

Run by hand (never in CI):
    python tools/reference/dump_tokenizer.py                 # writes Tests/Fixtures/tokenizer/cases.json
    python tools/reference/dump_tokenizer.py --tables        # regenerates Sources/LatentTokenizer/CLIPCharacterClasses.swift
    python tools/reference/dump_tokenizer.py --fuzz N OUT [SEED]        # N random strings with expected ids,
    python tools/reference/dump_tokenizer.py --fuzz-marks N OUT [SEED]  # or N strings dense in combining marks,
    # for a local fuzz run:
        LATENT_TOKENIZER_FUZZ=OUT swift test --filter LatentTokenizerTests

The tokenizer folders are built in a temporary directory from the bundled merge list (clip_vocab.py), with the
special-token files of Stable Diffusion 1.x (pad `<|endoftext|>`) and 2.x (pad `!`).
"""
import json
import pathlib
import random
import sys
import tempfile
import unicodedata

import clip_vocab

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "Tests/Fixtures/tokenizer/cases.json"
TABLES = ROOT / "Sources/LatentTokenizer/CLIPCharacterClasses.swift"
SPLIT_PATTERN = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


def added_token(content):
    return {"content": content, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}


def write_folder(directory, pad_token):
    """A diffusers `tokenizer/` folder laid out like the published SD 1.x / 2.x ones."""
    clip_vocab.write_tokenizer_files(directory)
    typed = lambda c: {"__type": "AddedToken", **added_token(c)}
    config = {
        "add_prefix_space": False,
        "bos_token": typed("<|startoftext|>"),
        "do_lower_case": True,
        "eos_token": typed("<|endoftext|>"),
        "errors": "replace",
        "model_max_length": 77,
        "pad_token": "<|endoftext|>",
        "tokenizer_class": "CLIPTokenizer",
        "unk_token": typed("<|endoftext|>"),
    }
    special = {
        "bos_token": added_token("<|startoftext|>"),
        "eos_token": added_token("<|endoftext|>"),
        "pad_token": pad_token,
        "unk_token": added_token("<|endoftext|>"),
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    (directory / "special_tokens_map.json").write_text(json.dumps(special, indent=2))


def load_tokenizers(tmp):
    from transformers import CLIPTokenizer

    result = {}
    for name, pad in [("sd1", "<|endoftext|>"), ("sd2", "!")]:
        folder = pathlib.Path(tmp) / name
        write_folder(folder, pad)
        result[name] = CLIPTokenizer.from_pretrained(str(folder))
    return result


def reference(tokenizers, text):
    entry = {"text": text}
    for name, tok in tokenizers.items():
        entry[f"tokens_{name}"] = tok(text, add_special_tokens=False).input_ids
        entry[f"input_ids_{name}"] = tok(text, padding="max_length", max_length=77, truncation=True).input_ids
    entry["input_ids_sd1_len20"] = tokenizers["sd1"](text, padding="max_length", max_length=20, truncation=True).input_ids
    return entry


def case_texts():
    rng = random.Random(1234)
    words = "a photo of cat dog astronaut riding horse on mars highly detailed painting by greg rutkowski trending artstation".split()
    long_prompt = " ".join(rng.choice(words) for _ in range(120))
    texts = [
        "", " ", "\t\n", "a", "A", "a photo of a cat", "A PHOTO OF A CAT", "  leading and trailing spaces  ",
        "an astronaut riding a horse on mars, highly detailed, 8k, trending on artstation",
        long_prompt, " ".join(["masterpiece"] * 80), " ".join(words * 8), "word " * 74, "word " * 75, "word " * 76,
        "a" * 500, "supercalifragilisticexpialidocious" * 20, "x" * 76, "1" * 100, "!" * 100,
        # weights / prompt syntax
        "(masterpiece:1.2)", "((best quality)), [low quality], {a|b}", "<lora:detail_tweaker:0.8>", "(cat:1.5) AND (dog:0.5)",
        "a cat --ar 16:9 --v 5", "score_9, score_8_up, rating_safe", "1girl, solo, looking_at_viewer",
        "[cat:dog:0.5]", "a \\(escaped\\) paren", "a+b=c; d/e*f^g%h$i#j@k~l`m|n",
        # punctuation-heavy
        "!!!???...", "...", "—–-‐", "“quoted” ‘single’ «guillemets» „low“", "a, b, c. d; e: f!", "$100.00 & 50% off!!!",
        "¿Qué? ¡Sí!", "#hashtag @mention", "email@example.com", "C++ / C# / F#", "<html><body>hi</body></html>",
        "::: ;;; ''' \"\"\"", "'''s", "'s", "''s", "'", "'ll'd're've'm't's",
        # contractions
        "it's", "IT'S", "we're here", "don't", "I'll", "you'd", "they've", "I'm", "rock'n'roll", "it’s curly", "o'clock",
        # numbers
        "1234567890", "3.14159", "1,000,000", "2023-10-05", "0x1F600", "٣٤٥ arabic digits", "१२३ devanagari digits",
        "①②③ ⑴⑵ ½ ¾ ²³", "Ⅻ Ⅳ roman", "𝟘𝟙𝟚 math digits", "１２３ fullwidth",
        # urls
        "https://example.com/path/to/page?x=1&y=2#frag", "www.example.org", "ftp://user:pass@host:21/file.txt",
        # whitespace and controls
        "a\tb\nc\r\nd", "a  \u00a0 b", "a\u3000b", "a\u2028b\u2029c", "a\u0085b", "a\u200bb", "a\ufeffb", "a\u00adb",
        "a\u000bb\u000cc", "\x00", "a\x01b\x02c", "\x7f\x80\x9f", "a\u001cb\u001fc", "a\u180eb", "a\u2060b", "  \t  \n  ",
        "a\u200db", "a\u200cb", "tab\tseparated\tvalues", "line1\n\nline2\n\n\nline3",
        # accents and combining marks
        "café", unicodedata.normalize("NFD", "café"), "naïve", unicodedata.normalize("NFD", "naïve résumé"),
        "Ångström", unicodedata.normalize("NFD", "Ångström"), "a\u0301\u0302\u0303", "e\u0308\u0301", "z\u0327\u030c",
        "Tiếng Việt có dấu", unicodedata.normalize("NFD", "Tiếng Việt có dấu"), "ΣΊΣΥΦΟΣ σίσυφος", "İstanbul ISTANBUL ı",
        "STRASSE straße ẞ", "Ǆ ǅ ǆ", "ﬁ ﬂ ligatures", "Ω Ω K K Å", "\u0301 leading combining", "a\u0338 a\u20dd",
        "ḱṓḿ", "Å", "\u212b", "ǰ", "ŉ",
        # found by the fuzz runs: marks out of decompositions must be reordered; second-level compositions;
        # marks newer than Unicode 9.0 neither reorder nor compose in tokenizers' NFC
        "\u0f81\u0f81", "a\u0f81\u0f81'", "\u0ccb", "\u0cca\u0cd5", "\u0cc6\u0cc2\u0cd5", "\uac00\u11a8", "\u1100\u1161\u11a8\uac00\u11a8",
        "\ub795\ub9e2\u1e7f\U0001e2ae\u065f\u1ed4i", "\U0001e130\u1ce5A", "\u0f82\u1df9\u1fb3", "-\u1df6\u0316", "i\ud216\U00011070\U00011173",
        "\U00016d63\U00016d67", "\U000113c2\U000113b8", "\U0001611e\U0001611e", "\u1e0b\u0323", "q\u0307\u0323",
        # scripts
        "日本語のテキスト", "中文测试：一只猫在屋顶上", "한국어 텍스트", "\u1100\u1161\u11a8 jamo", "ｶﾀｶﾅ halfwidth",
        "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก", "Привет, мир!", "Γειά σου Κόσμε",
        "ქართული", "Հայերեն", "አማርኛ", "ᚠᚢᚦᚨᚱᚲ runes", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕳𝖊𝖑𝖑𝖔", "ＡＢＣ ｆｕｌｌｗｉｄｔｈ", "Ꭰ Ꮳ cherokee",
        "𐐀𐐁 deseret", "\U00010940\U00010941 new letters", "\u088f\u0c5c\ua7ce", "꙰ ꙱", "漢字かなカナ交じり文",
        "mixed 日本 english 한국 中文", "𠀀𠀁 cjk ext b", "\U0002ebf0\U00031350",
        # emoji
        "🐱", "🐱🐶🐭", "a cat 🐱 and a dog 🐶", "👍🏽", "👍🏻👍🏼👍🏽👍🏾👍🏿", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵🇺🇸", "1️⃣ #️⃣",
        "❤️", "❤", "🧑🏽‍🚀 astronaut", "🫠🫥🪿", "☃☀★☆", "emoji🔥fire", "🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥",
        # special tokens typed in text
        "<|startoftext|>", "<|endoftext|>", "a<|endoftext|>b", "<|ENDOFTEXT|>", "<|EndOfText|> x", "<|STARTOFTEXT|>",
        "<|endoftext|><|endoftext|>", "<|endoftext", "<<|endoftext|>>", "<|startoftext|>a photo<|endoftext|>",
        "<|startoftext|>!<|endoftext|>", "text <|endoftext|> more text", "< |endoftext| >", "<|endoftext|>\u0301",
        "<|\u00e9ndoftext|>", "!", "hello!", "wow!!!", " ! ", "!a!b!", "?!", "!?", "a!!!!!!!!b", "<!-- comment -->",
        # symbols
        "∑∫√∞≠≤≥", "┌─┐│└┘", "♩♪♫♬", "© ® ™ ℃ ℉", "← → ↑ ↓ ⇒", "€£¥₩₹", "§¶†‡•", "⠁⠃⠉ braille",
    ]
    # Seeded random mixtures of everything above.
    pool = "".join(texts)
    for _ in range(12):
        texts.append("".join(rng.choice(pool) for _ in range(rng.randint(5, 60))))
    texts.append(" ".join(rng.choice(words) for _ in range(1000)))
    return texts


def random_text(rng):
    """A random string mixing ASCII, whitespace, combining marks, emoji sequences and arbitrary code points."""
    parts = []
    for _ in range(rng.randint(0, 12)):
        kind = rng.random()
        if kind < 0.25:
            parts.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789 ,.!?'()[]:<>|-_") for _ in range(rng.randint(1, 8))))
        elif kind < 0.35:
            parts.append(rng.choice([" ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028", "\x0b", "\x1c", "\u200b", "  "]))
        elif kind < 0.45:
            parts.append(rng.choice(["<|startoftext|>", "<|endoftext|>", "<|ENDOFTEXT|>", "<|endoftext", "!", "'s", "'LL", "’s"]))
        elif kind < 0.55:
            base = chr(rng.choice([rng.randint(0x41, 0x7A), rng.randint(0xC0, 0x24F), rng.randint(0x1E00, 0x1EFF), rng.randint(0x370, 0x3FF), rng.randint(0xAC00, 0xD7A3)]))
            form = rng.choice(["NFC", "NFD", "NFKC", "NFKD"])
            marks = "".join(chr(rng.randint(0x300, 0x36F)) for _ in range(rng.randint(0, 3)))
            parts.append(unicodedata.normalize(form, base) + marks)
        elif kind < 0.6:
            parts.append(chr(0x1100 + rng.randint(0, 18)) + chr(0x1161 + rng.randint(0, 20)) + (chr(0x11A8 + rng.randint(0, 26)) if rng.random() < 0.5 else ""))
        elif kind < 0.7:
            emoji = chr(rng.choice([rng.randint(0x1F300, 0x1FAFF), rng.randint(0x2600, 0x27BF)]))
            if rng.random() < 0.3:
                emoji += chr(rng.randint(0x1F3FB, 0x1F3FF))
            if rng.random() < 0.3:
                emoji += "\u200d" + chr(rng.randint(0x1F300, 0x1F5FF))
            if rng.random() < 0.2:
                emoji += "\ufe0f"
            parts.append(emoji)
        else:
            # Any scalar value (no surrogates), weighted towards the BMP and the recently assigned blocks.
            while True:
                cp = rng.choice([rng.randint(0, 0xFFFF), rng.randint(0, 0x10FFFF), rng.randint(0x10000, 0x1FFFF), rng.randint(0, 0x7FF)])
                if not 0xD800 <= cp <= 0xDFFF:
                    break
            parts.append(chr(cp) * rng.randint(1, 2))
    return "".join(parts)


def mark_text(rng, interesting):
    """A short string dense in combining marks and decomposable scalars, to exercise NFC's reordering."""
    return "".join(rng.choice(interesting) if rng.random() < 0.7 else rng.choice("aeiouAEc ") for _ in range(rng.randint(1, 8)))


def interesting_scalars():
    """Scalars with a combining class or a canonical decomposition, and the Hangul jamo."""
    out = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        if unicodedata.combining(c) or unicodedata.normalize("NFD", c) != c or 0x1100 <= cp <= 0x11FF:
            out.append(c)
    # Scripts newer than Python's Unicode tables (15.0 to 17.0), with their own marks and compositions.
    for start, end in [(0x105C0, 0x105FF), (0x10D40, 0x10D8F), (0x11380, 0x113FF), (0x11F00, 0x11F5F), (0x16100, 0x1613F),
                       (0x16D40, 0x16D7F), (0x1E4D0, 0x1E4FF), (0x1E5D0, 0x1E5FF), (0x1E030, 0x1E08F), (0x10EFD, 0x10EFF)]:
        out.extend(chr(cp) for cp in range(start, end + 1))
    return out


def write_tables():
    """Letter and number classes as tokenizers' regex engine (Oniguruma) sees them: its Unicode tables are older
    than Swift's, so newly assigned letters count as punctuation there."""
    from tokenizers import Regex, pre_tokenizers

    split = pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="removed", invert=True)
    classes = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            classes.append("P")
            continue
        c = chr(cp)
        if [s for s, _ in split.pre_tokenize_str("a" + c + "a")] == ["a" + c + "a"]:
            classes.append("L")
        elif len(split.pre_tokenize_str("!" + c + "!")) == 3:
            classes.append("N")
        else:
            classes.append("P")

    def ranges(kind):
        out, start = [], None
        for cp, k in enumerate(classes + ["-"]):
            if k == kind and start is None:
                start = cp
            elif k != kind and start is not None:
                out.append((start, cp - 1))
                start = None
        return out

    def swift_array(name, doc, rs):
        lines = [f"    /// {doc}", f"    static let {name}: [UInt32] = ["]
        step = 6 if len(rs[0]) == 2 else 5
        for i in range(0, len(rs), step):
            lines.append("        " + " ".join(", ".join(f"0x{x:X}" for x in r) + "," for r in rs[i : i + step]))
        lines.append("    ]")
        return "\n".join(lines)

    # Canonical pairs that tokenizers' NFC (Unicode 9.0 data) really composes: no exclusions, no newer scripts.
    from tokenizers import normalizers

    nfc = normalizers.NFC()
    compositions = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF or 0xAC00 <= cp <= 0xD7A3:
            continue
        mapping = unicodedata.decomposition(chr(cp))
        if not mapping or mapping.startswith("<"):
            continue
        parts = [int(x, 16) for x in mapping.split()]
        if len(parts) == 2 and nfc.normalize_str(chr(parts[0]) + chr(parts[1])) == chr(cp):
            compositions.append((parts[0], parts[1], cp))

    TABLES.write_text(
        "// Generated by tools/reference/dump_tokenizer.py --tables (tokenizers 0.23.3); do not edit by hand.\n\n"
        "/// Unicode data exactly as the `tokenizers` library sees it: letter (`\\p{L}`) and number (`\\p{N}`) classes of its\n"
        "/// regex engine (Oniguruma), as sorted inclusive ranges `[start0, end0, start1, end1, …]`, and the canonical\n"
        "/// compositions of its NFC (Unicode 9.0).\n"
        "enum CLIPCharacterClasses {\n"
        + swift_array("letterRanges", "Scalars matched by `\\p{L}`.", ranges("L")) + "\n\n"
        + swift_array("numberRanges", "Scalars matched by `\\p{N}`.", ranges("N")) + "\n\n"
        + swift_array("compositions", "NFC's primary composites as `[first, second, composite, …]`, Hangul excepted.", compositions) + "\n"
        "}\n"
    )
    print(TABLES, len(ranges("L")), len(ranges("N")), len(compositions))


def main():
    args = sys.argv[1:]
    if args[:1] == ["--tables"]:
        write_tables()
        return
    with tempfile.TemporaryDirectory() as tmp:
        tokenizers = load_tokenizers(tmp)
        if args[:1] in (["--fuzz"], ["--fuzz-marks"]):
            count, out = int(args[1]), pathlib.Path(args[2])
            rng = random.Random(int(args[3]) if len(args) > 3 else 7)
            if args[0] == "--fuzz":
                texts = [random_text(rng) for _ in range(count)]
            else:
                interesting = interesting_scalars()
                texts = [mark_text(rng, interesting) for _ in range(count)]
            cases = [reference(tokenizers, text) for text in texts]
            out.write_text(json.dumps({"cases": cases}, ensure_ascii=True))
            print(out, len(cases))
            return
        cases = [reference(tokenizers, text) for text in case_texts()]
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(
        json.dumps({"transformers": "5.24.0", "tokenizers": "0.23.3", "cases": cases}, ensure_ascii=True, separators=(",", ":"))
    )
    print(FIXTURE, len(cases), FIXTURE.stat().st_size)


if __name__ == "__main__":
    main()
