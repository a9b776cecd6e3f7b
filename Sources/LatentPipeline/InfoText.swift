/// The A1111-style generation parameters stored in a PNG's `parameters` text chunk, so that tools which
/// read A1111 images (and `latent` itself) recover prompt, sampler and seed.
///
/// Format (A1111 `create_infotext`): the prompt, a `Negative prompt:` line when one was given, then one line
/// of `Key: value` pairs separated by `, `.
public struct InfoText: Sendable, Equatable {
    public var prompt: String
    public var negativePrompt: String
    public var fields: [(key: String, value: String)]

    public static func == (lhs: InfoText, rhs: InfoText) -> Bool {
        lhs.prompt == rhs.prompt && lhs.negativePrompt == rhs.negativePrompt
            && lhs.fields.map(\.key) == rhs.fields.map(\.key) && lhs.fields.map(\.value) == rhs.fields.map(\.value)
    }

    /// Describes a finished generation.
    /// - Parameters:
    ///   - result: The generation (its request has the resolved size and seed).
    ///   - modelName: The checkpoint's name (file or folder name without extension).
    ///   - modelHash: A1111's short model hash (first 10 hex digits of the file's SHA-256), if known.
    public init(result: GenerationResult, modelName: String, modelHash: String?) {
        let request = result.request
        prompt = request.prompt
        negativePrompt = request.negativePrompt
        var fields: [(String, String)] = [
            ("Steps", "\(request.stepCount)"),
            ("Sampler", result.scheduler.a1111Label),
            ("CFG scale", Self.format(request.guidanceScale)),
            ("Seed", "\(request.seed)"),
            ("Size", "\(request.width ?? 0)x\(request.height ?? 0)"),
        ]
        if let modelHash { fields.append(("Model hash", modelHash)) }
        fields.append(("Model", modelName))
        if let prediction = request.predictionType { fields.append(("Prediction", prediction)) }
        fields.append(("Version", "Latent"))
        self.fields = fields
    }

    /// Describes a finished image-to-image, inpainting or outpainting run: the generation's fields plus the
    /// editing parameters under A1111's names ("Denoising strength", "Mask blur", "Inpaint area",
    /// "Masked area padding", "Mask mode", "Masked content", "Resize mode"), inserted before "Version".
    /// - Parameters:
    ///   - result: The generation.
    ///   - modelName: The checkpoint's name.
    ///   - modelHash: A1111's short model hash, if known.
    ///   - editing: The editing request that ran.
    ///   - extra: Further `Key: value` fields (e.g. outpainting margins), appended after the editing ones.
    public init(
        result: GenerationResult, modelName: String, modelHash: String?, editing: ImageEditingRequest,
        extra: [(key: String, value: String)] = []
    ) {
        self.init(result: result, modelName: modelName, modelHash: modelHash)
        var added: [(key: String, value: String)] = [("Denoising strength", Self.format(editing.strength))]
        if editing.resizeMode != .justResize { added.append(("Resize mode", editing.resizeMode.a1111Label)) }
        if let inpainting = editing.inpainting {
            added.append(("Mask blur", "\(inpainting.blur)"))
            if inpainting.inverted { added.append(("Mask mode", "Inpaint not masked")) }
            if inpainting.onlyMasked {
                added.append(("Inpaint area", "Only masked"))
                added.append(("Masked area padding", "\(inpainting.padding)"))
            }
            if inpainting.maskedContent != .original { added.append(("Masked content", inpainting.maskedContent.a1111Label)) }
        }
        added += extra
        let at = fields.firstIndex { $0.key == "Version" } ?? fields.count
        fields.insert(contentsOf: added, at: at)
    }

    /// The chunk text.
    public var text: String {
        var lines = [prompt]
        if !negativePrompt.isEmpty { lines.append("Negative prompt: \(negativePrompt)") }
        lines.append(fields.map { "\($0.key): \(Self.quoted($0.value))" }.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }

    /// A1111 writes 7.0 as "7" and 7.5 as "7.5".
    static func format(_ value: Float) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    /// Values containing the separators are JSON-quoted, as A1111 does.
    static func quoted(_ value: String) -> String {
        guard value.contains(",") || value.contains(":") || value.contains("\n") || value.contains("\"") else { return value }
        let escaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
        return "\"\(escaped)\""
    }
}
