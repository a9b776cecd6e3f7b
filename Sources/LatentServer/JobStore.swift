import CSQLite
import Foundation

/// Errors of the SQLite job store.
public enum JobStoreError: Error, CustomStringConvertible {
    case sqlite(operation: String, message: String)

    public var description: String {
        switch self {
        case let .sqlite(operation, message): "job store (SQLite) failed to \(operation): \(message)"
        }
    }
}

/// Jobs and their result images in one SQLite database (`<data-dir>/jobs.sqlite`, or in memory without a data
/// dir). WAL mode with synchronous=NORMAL: a committed job survives a process crash (kill -9).
final class JobStore: @unchecked Sendable {
    private var db: OpaquePointer?
    // SQLite is opened in serialized mode, but statements and their bindings are per call, so one lock
    // keeps each prepare/bind/step/finalize sequence whole.
    private let lock = NSLock()
    private static var transient: sqlite3_destructor_type { unsafeBitCast(-1, to: sqlite3_destructor_type.self) }

    /// Opens (and creates) the store.
    /// - Parameter directory: The data directory; `nil` keeps everything in memory.
    init(directory: URL?) throws {
        var path = ":memory:"
        if let directory {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            path = directory.appendingPathComponent("jobs.sqlite").path
        }
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nil) == SQLITE_OK
        else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open \(path)"
            sqlite3_close(db)
            throw JobStoreError.sqlite(operation: "open \(path)", message: message)
        }
        try execute("PRAGMA journal_mode=WAL")
        try execute("PRAGMA synchronous=NORMAL")
        try execute("""
            CREATE TABLE IF NOT EXISTS jobs (
                id TEXT PRIMARY KEY, owner TEXT NOT NULL, priority INTEGER NOT NULL, sequence INTEGER NOT NULL,
                status TEXT NOT NULL, parameters TEXT NOT NULL, created REAL NOT NULL, started REAL, finished REAL,
                error TEXT, note TEXT, step INTEGER NOT NULL, step_count INTEGER NOT NULL, seeds TEXT NOT NULL,
                infotexts TEXT NOT NULL)
            """)
        try execute("""
            CREATE TABLE IF NOT EXISTS images (
                job_id TEXT NOT NULL, idx INTEGER NOT NULL, png BLOB NOT NULL, width INTEGER NOT NULL,
                height INTEGER NOT NULL, PRIMARY KEY (job_id, idx))
            """)
        // Edit jobs' input image and mask (PNG), kept until the job ends.
        try execute("CREATE TABLE IF NOT EXISTS inputs (job_id TEXT PRIMARY KEY, image BLOB NOT NULL, mask BLOB)")
    }

    deinit { sqlite3_close(db) }

    /// Inserts or replaces a job's row (not its images).
    func save(_ job: JobRecord) throws {
        let encoder = JSONEncoder()
        let parameters = String(decoding: try encoder.encode(job.parameters), as: UTF8.self)
        let seeds = String(decoding: try encoder.encode(job.imageSeeds), as: UTF8.self)
        let infotexts = String(decoding: try encoder.encode(job.infotexts), as: UTF8.self)
        try run(
            "INSERT OR REPLACE INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                .text(job.id), .text(job.owner), .int(Int64(job.priority)), .int(job.sequence), .text(job.status.rawValue),
                .text(parameters), .real(job.createdAt.timeIntervalSince1970),
                job.startedAt.map { .real($0.timeIntervalSince1970) } ?? .null,
                job.finishedAt.map { .real($0.timeIntervalSince1970) } ?? .null,
                job.error.map { .text($0) } ?? .null, job.note.map { .text($0) } ?? .null,
                .int(Int64(job.step)), .int(Int64(job.stepCount)), .text(seeds), .text(infotexts),
            ])
    }

    /// Stores a new job: its row and, for an edit, its input image and mask, in one transaction.
    func saveNew(_ job: JobRecord) throws {
        guard let editing = job.parameters.editing else { return try save(job) }
        try lock.withLock { try executeLocked("BEGIN") }
        do {
            try run(
                "INSERT OR REPLACE INTO inputs VALUES (?,?,?)",
                [.text(job.id), .blob(editing.image), editing.mask.map { .blob($0) } ?? .null])
            try save(job)
            try lock.withLock { try executeLocked("COMMIT") }
        } catch {
            try? lock.withLock { try executeLocked("ROLLBACK") }
            throw error
        }
    }

    /// Stores a finished job's images and its row in one transaction, so a crash never leaves one without the
    /// other; its edit inputs are no longer needed and go.
    func saveFinished(_ job: JobRecord, images: [GeneratedImage]) throws {
        try lock.withLock { try executeLocked("BEGIN") }
        do {
            try run("DELETE FROM inputs WHERE job_id = ?", [.text(job.id)])
            for (index, image) in images.enumerated() {
                try run(
                    "INSERT OR REPLACE INTO images VALUES (?,?,?,?,?)",
                    [.text(job.id), .int(Int64(index)), .blob(image.png), .int(Int64(image.width)), .int(Int64(image.height))])
            }
            try save(job)
            try lock.withLock { try executeLocked("COMMIT") }
        } catch {
            try? lock.withLock { try executeLocked("ROLLBACK") }
            throw error
        }
    }

    /// The PNG of image `index` of a job.
    func image(job id: String, index: Int) throws -> Data? {
        try query("SELECT png FROM images WHERE job_id = ? AND idx = ?", [.text(id), .int(Int64(index))]) { statement in
            let count = Int(sqlite3_column_bytes(statement, 0))
            guard let bytes = sqlite3_column_blob(statement, 0) else { return Data() }
            return Data(bytes: bytes, count: count)
        }.first
    }

    /// Deletes a job's images (its row stays, marked expired by the caller).
    func deleteImages(job id: String) throws {
        try run("DELETE FROM images WHERE job_id = ?", [.text(id)])
    }

    /// Every job, in submission order.
    func loadAll() throws -> [JobRecord] {
        let decoder = JSONDecoder()
        return try query("SELECT * FROM jobs ORDER BY sequence", []) { s -> JobRecord? in
            func text(_ i: Int32) -> String? { sqlite3_column_text(s, i).map { String(cString: $0) } }
            func real(_ i: Int32) -> Double? { sqlite3_column_type(s, i) == SQLITE_NULL ? nil : sqlite3_column_double(s, i) }
            guard let id = text(0), let owner = text(1), let statusText = text(4), let status = JobStatus(rawValue: statusText),
                let parametersText = text(5),
                let parameters = try? decoder.decode(GenerationParameters.self, from: Data(parametersText.utf8))
            else { return nil }
            var job = JobRecord(
                id: id, owner: owner, priority: Int(sqlite3_column_int64(s, 2)), sequence: sqlite3_column_int64(s, 3),
                parameters: parameters, createdAt: Date(timeIntervalSince1970: real(6) ?? 0))
            job.status = status
            job.startedAt = real(7).map(Date.init(timeIntervalSince1970:))
            job.finishedAt = real(8).map(Date.init(timeIntervalSince1970:))
            job.error = text(9)
            job.note = text(10)
            job.step = Int(sqlite3_column_int64(s, 11))
            job.stepCount = Int(sqlite3_column_int64(s, 12))
            job.imageSeeds = text(13).flatMap { try? decoder.decode([UInt64].self, from: Data($0.utf8)) } ?? []
            job.infotexts = text(14).flatMap { try? decoder.decode([String].self, from: Data($0.utf8)) } ?? []
            return job
        }.compactMap { $0 }.map { job in
            guard !job.status.isTerminal, job.parameters.editing != nil else { return job }
            var restored = job
            if let stored = try inputs(job: job.id) {
                restored.parameters.editing?.image = stored.image
                restored.parameters.editing?.mask = stored.mask
            }
            return restored
        }
    }

    /// An edit job's stored input image and mask.
    private func inputs(job id: String) throws -> (image: Data, mask: Data?)? {
        func blob(_ statement: OpaquePointer, _ column: Int32) -> Data? {
            guard sqlite3_column_type(statement, column) != SQLITE_NULL, let bytes = sqlite3_column_blob(statement, column) else {
                return nil
            }
            return Data(bytes: bytes, count: Int(sqlite3_column_bytes(statement, column)))
        }
        return try query("SELECT image, mask FROM inputs WHERE job_id = ?", [.text(id)]) { statement -> (image: Data, mask: Data?)? in
            guard let image = blob(statement, 0) else { return nil }
            return (image, blob(statement, 1))
        }.first ?? nil
    }

    // MARK: - SQLite plumbing

    private enum Value {
        case text(String), int(Int64), real(Double), blob(Data), null
    }

    private func execute(_ sql: String) throws { try lock.withLock { try executeLocked(sql) } }

    private func executeLocked(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw failure("execute \(sql.prefix(40))") }
    }

    private func failure(_ operation: String) -> JobStoreError {
        .sqlite(operation: operation, message: db.map { String(cString: sqlite3_errmsg($0)) } ?? "no database")
    }

    private func run(_ sql: String, _ values: [Value]) throws {
        _ = try query(sql, values) { _ in () }
    }

    private func query<Row>(_ sql: String, _ values: [Value], row: (OpaquePointer) -> Row) throws -> [Row] {
        try lock.withLock {
            var statement: OpaquePointer?
            guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
                throw failure("prepare \(sql.prefix(40))")
            }
            defer { sqlite3_finalize(statement) }
            for (offset, value) in values.enumerated() {
                let index = Int32(offset + 1)
                switch value {
                case let .text(string): sqlite3_bind_text(statement, index, string, -1, Self.transient)
                case let .int(number): sqlite3_bind_int64(statement, index, number)
                case let .real(number): sqlite3_bind_double(statement, index, number)
                case .null: sqlite3_bind_null(statement, index)
                case let .blob(data):
                    data.withUnsafeBytes { raw in
                        _ = sqlite3_bind_blob(statement, index, raw.baseAddress, Int32(raw.count), Self.transient)
                    }
                }
            }
            var rows: [Row] = []
            while true {
                let code = sqlite3_step(statement)
                if code == SQLITE_ROW {
                    rows.append(row(statement))
                } else if code == SQLITE_DONE {
                    return rows
                } else {
                    throw failure("run \(sql.prefix(40))")
                }
            }
        }
    }
}
