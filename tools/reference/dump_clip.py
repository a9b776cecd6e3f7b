"""Dumps reference outputs of two small random transformers `CLIPTextModel`s for Latent's CLIP tests.

Run by hand (never in CI) from the package root:

    python tools/reference/dump_clip.py

Pinned reference environment: torch 2.13 (CPU), transformers 5.24, safetensors.

For each model `<name>` it writes to Tests/Fixtures/clip/:
  <name>.safetensors      weights, keyed as published checkpoints are (`text_model.` level included)
  <name>-config.json      the model's config.json, as transformers saves it
  <name>-ref.safetensors  input_ids [2, 77] (as F32), last_hidden_state [2, 77, 64],
                          hidden_state_2 (encoder output after 2 of 3 layers, no final LayerNorm) and
                          clip_skip_1 (final_layer_norm(hidden_state_2), what diffusers feeds the UNet
                          for clip_skip=1)

The two models differ in `hidden_act` (SD1's quick_gelu, SD2's gelu). Every weight is re-randomised with
magnitudes that keep activations well inside the non-linear range, so a wrong activation, a missing mask or
swapped projections shows up far above fp32 noise.
"""
import json
import pathlib

import safetensors.torch
import torch
import transformers
from transformers import CLIPTextConfig, CLIPTextModel

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests/Fixtures/clip"

VOCAB = 1000
HIDDEN = 64
HEADS = 4
LAYERS = 3
INTERMEDIATE = 128
POSITIONS = 77


def randomise(model, generator):
    """Replaces every parameter with seeded random values (transformers' init is too close to zero/one)."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if "layer_norm" in name and name.endswith("weight"):
                parameter.copy_(1 + 0.3 * noise)
            elif name.endswith("bias"):
                parameter.copy_(0.2 * noise)
            elif "embedding" in name:
                parameter.copy_(0.8 * noise)
            else:
                # Linear [out, in]: unit-variance outputs for unit-variance inputs, times a gain > 1 so
                # that attention scores and MLP pre-activations span several units.
                parameter.copy_(1.5 * noise / parameter.shape[1] ** 0.5)


def dump(name, hidden_act, seed):
    config = CLIPTextConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        projection_dim=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        max_position_embeddings=POSITIONS,
        hidden_act=hidden_act,
        layer_norm_eps=1e-5,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    generator = torch.Generator().manual_seed(seed)
    model = CLIPTextModel(config).eval()
    randomise(model, generator)
    input_ids = torch.randint(0, VOCAB, (2, POSITIONS), generator=generator)

    with torch.no_grad():
        outputs = model(input_ids=input_ids, output_hidden_states=True)
    last = outputs.last_hidden_state
    hidden_2 = outputs.hidden_states[2]
    with torch.no_grad():
        clip_skip_1 = model.final_layer_norm(outputs.hidden_states[-2])

    # transformers 5 drops the `text_model.` key level; published checkpoints (and Latent) keep it.
    weights = {"text_model." + k: v.contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(weights, OUT / f"{name}.safetensors")
    safetensors.torch.save_file(
        {
            "input_ids": input_ids.float().contiguous(),
            "last_hidden_state": last.contiguous(),
            "hidden_state_2": hidden_2.contiguous(),
            "clip_skip_1": clip_skip_1.contiguous(),
        },
        OUT / f"{name}-ref.safetensors",
    )
    config_dict = config.to_dict()
    config_dict["architectures"] = ["CLIPTextModel"]
    (OUT / f"{name}-config.json").write_text(json.dumps(config_dict, indent=2, sort_keys=True) + "\n")
    print(f"{name}: |last_hidden_state| = {last.norm():.4f}, std = {last.std():.4f}")


def main():
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    OUT.mkdir(parents=True, exist_ok=True)
    dump("tiny-quick-gelu", "quick_gelu", seed=1234)
    dump("tiny-gelu", "gelu", seed=5678)


if __name__ == "__main__":
    main()
