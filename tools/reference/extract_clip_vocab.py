"""Copies CLIP's BPE merge list out of PyPI's open-clip-torch into LatentTokenizer's resources.

Run by hand: pip install open-clip-torch==<pinned in requirements.txt>; python tools/reference/extract_clip_vocab.py
The file is data (the BPE merges of OpenAI's CLIP); Latent rebuilds vocab.json from it at load time.
"""
import hashlib
import importlib.util
import pathlib
import shutil

spec = importlib.util.find_spec("open_clip")
if spec is None or spec.origin is None:
    raise SystemExit("open-clip-torch is not installed: pip install open-clip-torch")
src = pathlib.Path(spec.origin).parent / "bpe_simple_vocab_16e6.txt.gz"
dst = pathlib.Path(__file__).resolve().parents[2] / "Sources/LatentTokenizer/Resources/bpe_simple_vocab_16e6.txt.gz"
shutil.copyfile(src, dst)
print(dst, hashlib.sha256(dst.read_bytes()).hexdigest())
