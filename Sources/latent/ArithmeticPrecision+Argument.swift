import ArgumentParser
import LatentCore

/// `--weights fp32|bf16|int8` on the commands that load a model.
extension ArithmeticPrecision: ExpressibleByArgument {}
