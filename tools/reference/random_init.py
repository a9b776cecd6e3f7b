"""Re-randomises every parameter of a freshly built model so that no weight is degenerate (diffusers zero-inits
several output convolutions; norms start at exactly 1/0), while activations stay O(1)."""
import math

import torch
from torch import nn


def randomize(model, seed):
    """Linear/conv weights ~ N(0, 1/fan_in), biases 0.1·N, norm weights 1 + 0.1·N, norm biases 0.1·N,
    embeddings N(0, 1). Fails if any parameter was not covered, so new layer types are not missed."""
    generator = torch.Generator().manual_seed(seed)
    touched = set()

    def normal_(tensor, std, mean=0.0):
        sample = torch.randn(tensor.shape, generator=generator, dtype=torch.float32) * std + mean
        with torch.no_grad():
            tensor.copy_(sample.to(tensor.dtype))
        touched.add(id(tensor))

    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            fan_in = module.weight[0].numel()
            normal_(module.weight, 1.0 / math.sqrt(fan_in))
            if module.bias is not None:
                normal_(module.bias, 0.1)
        elif isinstance(module, (nn.GroupNorm, nn.LayerNorm)):
            if module.weight is not None:
                normal_(module.weight, 0.1, mean=1.0)
            if module.bias is not None:
                normal_(module.bias, 0.1)
        elif isinstance(module, nn.Embedding):
            normal_(module.weight, 1.0)
    missing = [name for name, p in model.named_parameters() if id(p) not in touched]
    if missing:
        raise RuntimeError(f"parameters not re-randomised: {missing[:10]}")


def rescale_output(layer, output_std, target_std):
    """Scales a final layer (weight and bias) so the measured output std becomes `target_std`."""
    factor = target_std / output_std
    with torch.no_grad():
        layer.weight.mul_(factor)
        if layer.bias is not None:
            layer.bias.mul_(factor)
    return factor
