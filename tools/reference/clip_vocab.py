"""Builds CLIP's `vocab.json` and `merges.txt` (the files of a diffusers `tokenizer/` folder) from the BPE
merge list that open-clip-torch ships (`bpe_simple_vocab_16e6.txt.gz`, also bundled in Latent).

The published CLIP tokenizer files are derived from the same list: 256 byte symbols, the same 256 with the
`</w>` word-end marker, one symbol per merge (48,894 merges), then the two special tokens: 49,408 ids.
"""
import gzip
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "Sources/LatentTokenizer/Resources/bpe_simple_vocab_16e6.txt.gz"
MERGE_COUNT = 49152 - 256 - 2


def byte_symbols():
    """The byte → printable-character symbols of GPT-2/CLIP byte-level BPE, in vocabulary order:
    the printable bytes first (mapped to themselves), then the rest (mapped to U+0100 onwards)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    rest = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(rest))]


def load_merges(path=BUNDLED):
    lines = gzip.open(path).read().decode("utf-8").split("\n")
    # First line is a version header; keep exactly the merges CLIP uses.
    return [tuple(line.split()) for line in lines[1 : MERGE_COUNT + 1]]


def build_vocab(merges):
    symbols = byte_symbols()
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(vocab)}


def write_tokenizer_files(directory, merges_path=BUNDLED):
    """Writes vocab.json and merges.txt into `directory` (created if needed)."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    merges = load_merges(merges_path)
    (directory / "vocab.json").write_text(json.dumps(build_vocab(merges), ensure_ascii=False), encoding="utf-8")
    (directory / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    import sys

    write_tokenizer_files(sys.argv[1] if len(sys.argv) > 1 else "tokenizer")
