import Foundation
import LatentTesting
import Testing

@testable import LatentServer

/// Queue, auth, cancellation, timeouts and persistence, on a fake engine that tests can hold mid-job.
@Suite("Server queue and security, fake engine", .serialized)
struct QueueBehaviourTests {
    static func arguments(
        maxQueue: Int = 4, timeout: Double? = 60, ttl: Double = 3600, keys: [String] = [], dataDirectory: URL? = nil
    ) -> ServerArguments {
        ServerArguments(
            model: URL(fileURLWithPath: "/models/fake"), queue: .init(maxQueue: maxQueue, jobTimeout: timeout, resultTTL: ttl),
            apiKeys: keys, dataDirectory: dataDirectory, sweepInterval: .milliseconds(50))
    }

    static func waitUntil(_ condition: @Sendable () async throws -> Bool) async throws {
        for _ in 0..<1000 where try await !condition() { try await Task.sleep(for: .milliseconds(10)) }
    }

    @Test("A full queue answers 429 with Retry-After; priorities jump the line")
    func queueFullAndPriority() async throws {
        let fake = FakeGenerator()
        fake.hold()
        try await TestServer.with(Self.arguments(maxQueue: 2), generator: fake) { server in
            let running = try await server.post("/v1/jobs", json: ["prompt": "a", "steps": 2]).json()
            let runningID = try #require(running["id"] as? String)
            try await Self.waitUntil { try await server.get("/v1/jobs/\(runningID)").json()["status"] as? String == "running" }
            let low = try await server.post("/v1/jobs", json: ["prompt": "b", "steps": 2, "priority": 0]).json()
            let high = try await server.post("/v1/jobs", json: ["prompt": "c", "steps": 2, "priority": 5]).json()
            #expect(high["position"] as? Int == 0)
            let lowID = try #require(low["id"] as? String)
            #expect(try await server.get("/v1/jobs/\(lowID)").json()["position"] as? Int == 1)
            let full = try await server.post("/v1/jobs", json: ["prompt": "d", "steps": 2])
            #expect(full.status == .tooManyRequests)
            #expect(full.headers[.retryAfter].flatMap(Int.init) ?? 0 >= 1)
            #expect(full.text.contains("--max-queue 2"))
            fake.release()
            let done = try await server.waitForJob(lowID)
            #expect(done["status"] as? String == "succeeded")
            #expect(try await server.get("/metrics").text.contains(#"status="429""#))
        }
    }

    @Test("API keys: required except on health; jobs and interrupts are per key")
    func apiKeysIsolateClients() async throws {
        let fake = FakeGenerator()
        fake.hold()
        try await TestServer.with(Self.arguments(keys: ["alpha", "beta"]), generator: fake, apiKey: "alpha") { server in
            #expect(try await server.get("/sdapi/v1/samplers", key: .some(nil)).status == .unauthorized)
            #expect(try await server.get("/sdapi/v1/samplers", key: "wrong").status == .unauthorized)
            #expect(try await server.get("/openapi.json", key: .some(nil)).status == .unauthorized)
            #expect(try await server.get("/v2/health/ready", key: .some(nil)).status == .ok)
            #expect(try await server.get("/v2/health/live", key: .some(nil)).status == .ok)

            let job = try await server.post("/v1/jobs", json: ["prompt": "mine", "steps": 3]).json()
            let id = try #require(job["id"] as? String)
            try await Self.waitUntil { try await server.get("/v1/jobs/\(id)").json()["status"] as? String == "running" }
            // Another key can neither see, cancel nor interrupt it.
            #expect(try await server.get("/v1/jobs/\(id)", key: "beta").status == .notFound)
            #expect(try await server.request(.delete, "/v1/jobs/\(id)", key: "beta").status == .notFound)
            let other = try await server.request(.post, "/sdapi/v1/interrupt", key: "beta").json()
            #expect(other["interrupted"] is NSNull)
            let progress = try await server.get("/sdapi/v1/progress").json()
            #expect(progress["current_task"] as? String == id)
            #expect(try await server.get("/sdapi/v1/progress", key: "beta").json()["current_task"] == nil)
            // Its owner's interrupt stops it at the next step.
            let mine = try await server.request(.post, "/sdapi/v1/interrupt").json()
            #expect(mine["interrupted"] as? String == id)
            fake.release()
            let finished = try await server.waitForJob(id)
            #expect(finished["status"] as? String == "cancelled")
        }
    }

    @Test("DELETE cancels a queued job at once and a running one at its next step")
    func cancellation() async throws {
        let fake = FakeGenerator()
        fake.hold()
        try await TestServer.with(Self.arguments(), generator: fake) { server in
            let first = try #require(try await server.post("/v1/jobs", json: ["prompt": "a", "steps": 5]).json()["id"] as? String)
            let second = try #require(try await server.post("/v1/jobs", json: ["prompt": "b", "steps": 5]).json()["id"] as? String)
            let queued = try await server.request(.delete, "/v1/jobs/\(second)").json()
            #expect(queued["status"] as? String == "cancelled")
            try await Self.waitUntil { try await server.get("/v1/jobs/\(first)").json()["status"] as? String == "running" }
            _ = try await server.request(.delete, "/v1/jobs/\(first)")
            fake.release()
            let job = try await server.waitForJob(first)
            #expect(job["status"] as? String == "cancelled")
            #expect(try await server.get("/v1/jobs/\(first)/image.png").status == .conflict)
            let events = try await server.get("/v1/jobs/\(first)/events").text
            #expect(events.contains("event: error"))
        }
    }

    @Test("A job over --job-timeout fails with a message naming the limit")
    func timeout() async throws {
        let fake = FakeGenerator()
        fake.stepDelay = .milliseconds(30)
        try await TestServer.with(Self.arguments(timeout: 0.05), generator: fake) { server in
            let response = try await server.post("/sdapi/v1/txt2img", json: ["prompt": "slow", "steps": 50])
            #expect(response.status == .unprocessableContent)
            #expect(response.text.contains("--job-timeout"))
        }
    }

    @Test("Results expire after --result-ttl (410)")
    func resultExpiry() async throws {
        try await TestServer.with(Self.arguments(ttl: 0), generator: FakeGenerator()) { server in
            let id = try #require(try await server.post("/v1/jobs", json: ["prompt": "a", "steps": 1]).json()["id"] as? String)
            try await Self.waitUntil { try await server.get("/v1/jobs/\(id)").json()["status"] as? String == "expired" }
            #expect(try await server.get("/v1/jobs/\(id)/image.png").status == .gone)
        }
    }

    @Test("Jobs survive a restart: finished stay downloadable, queued and suspended ones run after it")
    func persistence() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("latent-server-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let fake = FakeGenerator()
        let ids = try await TestServer.with(Self.arguments(dataDirectory: directory), generator: fake) { server in
            let done = try #require(try await server.post("/v1/jobs", json: ["prompt": "done", "steps": 1, "seed": 9]).json()["id"] as? String)
            _ = try await server.waitForJob(done)
            fake.hold()
            let running = try #require(try await server.post("/v1/jobs", json: ["prompt": "run", "steps": 3]).json()["id"] as? String)
            try await Self.waitUntil { try await server.get("/v1/jobs/\(running)").json()["status"] as? String == "running" }
            let queued = try #require(try await server.post("/v1/jobs", json: ["prompt": "wait", "steps": 3]).json()["id"] as? String)
            // Shutdown drains: readiness would go 503; the running job stops after this step and stays queued.
            Task { try await Task.sleep(for: .milliseconds(100)); fake.release() }
            return (done, running, queued)
        }
        // Graceful shutdown marked the running job queued; a crash would have left it "running".
        let store = try JobStore(directory: directory)
        let stored = try store.loadAll()
        #expect(stored.first { $0.id == ids.1 }?.status == .queued)
        // Simulate a crash mid-job: the row says running.
        if var crashed = stored.first(where: { $0.id == ids.2 }) {
            crashed.status = .running
            try store.save(crashed)
        }
        try await TestServer.with(Self.arguments(dataDirectory: directory), generator: FakeGenerator()) { server in
            let done = try await server.get("/v1/jobs/\(ids.0)").json()
            #expect(done["status"] as? String == "succeeded")
            #expect(try await server.get("/v1/jobs/\(ids.0)/image.png").status == .ok)
            let resumed = try await server.waitForJob(ids.1)
            #expect(resumed["status"] as? String == "succeeded")
            let requeued = try await server.waitForJob(ids.2)
            #expect(requeued["status"] as? String == "succeeded")
            #expect((requeued["note"] as? String)?.contains("restart") == true)
        }
    }

    @Test("Draining: readiness 503 and new jobs refused")
    func draining() async throws {
        try await TestServer.with(Self.arguments(), generator: FakeGenerator()) { server in
            await server.components.queue.beginDrain()
            let ready = try await server.get("/v2/health/ready")
            #expect(ready.status == .serviceUnavailable)
            let late = try await server.post("/v1/jobs", json: ["prompt": "late"])
            #expect(late.status == .serviceUnavailable)
        }
    }
}
