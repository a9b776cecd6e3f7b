import Foundation
import LatentCore

/// The most recent prompt encoding of a pipeline, reused for an identical request.
///
/// Invariant (why `@unchecked Sendable` is sound): `entry` is read and written only while `lock` is held.
final class PromptEncodingCache: @unchecked Sendable {
    /// What an encoding depends on besides the (fixed) text encoder.
    struct Key: Equatable {
        let prompt: String
        let negativePrompt: String
        let guided: Bool
    }

    private let lock = NSLock()
    private var entry: (key: Key, context: Tensor)?

    /// The cached context for `key`, if it is the last one stored.
    func value(for key: Key) -> Tensor? {
        lock.withLock { entry.flatMap { $0.key == key ? $0.context : nil } }
    }

    /// Remembers `context` as the encoding of `key` (replacing the previous one).
    func store(_ context: Tensor, for key: Key) {
        lock.withLock { entry = (key, context) }
    }
}
