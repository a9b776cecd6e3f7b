"""Prints a Markdown table of the generated fixtures with their sizes (for the README).

    python tools/reference/fixture_table.py
"""
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests/Fixtures"


def size(path):
    if path.is_symlink():
        return 0
    if path.is_dir():
        return sum(size(p) for p in path.iterdir())
    return path.stat().st_size


def main():
    rows = []
    models = FIXTURES / "models"
    for path in sorted(models.iterdir()):
        rows.append((str(path.relative_to(ROOT)) + ("/" if path.is_dir() else ""), size(path)))
    reference = FIXTURES / "reference"
    for path in sorted(reference.glob("components-*.safetensors")):
        rows.append((str(path.relative_to(ROOT)), size(path)))
    pipeline = reference / "pipeline"
    if pipeline.is_dir():
        cases = len(list(pipeline.glob("*.png")))
        rows.append((f"{pipeline.relative_to(ROOT)}/ ({cases} cases: .png + .safetensors, cases.json)", size(pipeline)))
    print("| fixture | bytes |")
    print("| --- | ---: |")
    for name, bytes_ in rows:
        print(f"| `{name}` | {bytes_:,} |")
    print(f"| **total Tests/Fixtures** | **{size(FIXTURES):,}** |")


if __name__ == "__main__":
    main()
