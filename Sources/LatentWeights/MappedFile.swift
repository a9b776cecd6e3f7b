import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory.
///
/// `@unchecked Sendable` invariant: the mapping is created once in `init`, never written (it is mapped
/// `PROT_READ`), and unmapped only in `deinit`, when no other reference can exist; every accessor only reads.
/// Callers must not let pointers handed to `withBytes` closures escape them.
public final class MappedFile: @unchecked Sendable {
    /// The file that was mapped.
    public let url: URL
    /// The file size in bytes.
    public let count: Int
    private let base: UnsafeRawPointer?

    /// Maps `url` read-only.
    /// - Throws: `WeightsError.missingFile` when the file does not exist, `.invalidFile` when it cannot be
    ///   opened or mapped (a directory, no permission, …).
    public init(contentsOf url: URL) throws {
        self.url = url
        let path = url.path
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT { throw WeightsError.missingFile(path: path) }
            throw WeightsError.invalidFile(path: path, reason: "cannot open: \(String(cString: strerror(code)))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw WeightsError.invalidFile(path: path, reason: "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw WeightsError.invalidFile(path: path, reason: "not a regular file")
        }
        count = Int(status.st_size)
        if count == 0 {
            // mmap rejects zero lengths; an empty file simply has no bytes.
            base = nil
            return
        }
        guard let pointer = mmap(nil, count, PROT_READ, MAP_PRIVATE, descriptor, 0), pointer != MAP_FAILED else {
            throw WeightsError.invalidFile(path: path, reason: "cannot map: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(pointer)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }

    /// Calls `body` with the file's bytes; the buffer is only valid inside `body`.
    /// - Parameter body: Receives all `count` bytes of the file.
    /// - Returns: What `body` returns.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// Calls `body` with `length` bytes starting at `offset`; the range must lie inside the file.
    /// - Returns: What `body` returns.
    public func withBytes<R>(
        offset: Int, length: Int, _ body: (UnsafeRawBufferPointer) throws -> R
    ) rethrows -> R {
        precondition(offset >= 0 && length >= 0 && offset + length <= count, "byte range outside the mapping")
        defer { release(offset: offset, length: length) }
        return try body(UnsafeRawBufferPointer(start: base.map { $0 + offset }, count: length))
    }

    /// Drops the range's pages from this process's resident set once read (tensors are copied out), so
    /// loading a model does not hold the whole file resident next to the loaded weights. The mapping is
    /// private and never written: a later access simply reads the file again.
    private func release(offset: Int, length: Int) {
        guard let base, length > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset / page * page
        let end = min(count, (offset + length + page - 1) / page * page)
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }
}
