/// A stream of random numbers that a generation draws from in a fixed order.
///
/// Implementations reproduce a reference generator bit for bit, so that the same seed gives the same
/// image as the reference. The seed travels with each request: there is no global generator.
public protocol RandomSource: AnyObject {
    /// Draws a standard-normal tensor of `shape`, consuming the stream exactly as the reference does for
    /// one call with that shape.
    func normal(shape: [Int]) -> Tensor
}
