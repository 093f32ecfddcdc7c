import SplitStore

/// Group commit for telemetry: requests that arrive while a transaction is being written wait
/// and are then stored together, in one transaction with one COPY, by a single writer. A
/// request is answered only after the transaction holding its samples has committed, so
/// "202 means stored" holds; each request is still all-or-nothing on its own (see
/// `TelemetryRepository.ingest(batches:)`): a request naming an unknown device is refused and
/// its neighbours are stored. Should a whole group fail (a database error no single request
/// explains), its requests are retried one by one, so one request cannot fail the others.
///
/// Large requests (collector batches) gain nothing from grouping and go straight to the store,
/// concurrently, as before.
actor TelemetryCommitter {
    /// Requests with at most this many samples are grouped; larger ones are stored on their own.
    nonisolated let groupableSamples: Int
    /// The most samples one group transaction carries.
    nonisolated let maximumGroupSamples: Int
    private let store: any APIStore
    private var waiting: [Waiting] = []
    private var writing = false

    private struct Waiting {
        var batch: TelemetryBatch
        var continuation: CheckedContinuation<TelemetryBatchOutcome, Error>
    }

    init(store: any APIStore, groupableSamples: Int = 100, maximumGroupSamples: Int = 5000) {
        self.store = store
        self.groupableSamples = groupableSamples
        self.maximumGroupSamples = max(groupableSamples, maximumGroupSamples)
    }

    /// Stores `batch` (grouped with concurrent ones when small) and says what became of it once
    /// that is durable.
    nonisolated func ingest(_ batch: TelemetryBatch) async throws -> TelemetryBatchOutcome {
        guard batch.samples.count <= groupableSamples else { return try await store.ingest(batches: [batch])[0] }
        return try await enqueue(batch)
    }

    private func enqueue(_ batch: TelemetryBatch) async throws -> TelemetryBatchOutcome {
        try await withCheckedThrowingContinuation { continuation in
            waiting.append(Waiting(batch: batch, continuation: continuation))
            if !writing {
                writing = true
                Task { await self.drain() }
            }
        }
    }

    /// Writes groups until nobody is waiting. Requests arriving during a write join the next group.
    private func drain() async {
        while !waiting.isEmpty {
            var count = 0, samples = 0
            while count < waiting.count, count == 0 || samples + waiting[count].batch.samples.count <= maximumGroupSamples {
                samples += waiting[count].batch.samples.count
                count += 1
            }
            let group = Array(waiting.prefix(count))
            waiting.removeFirst(count)
            let results = await commit(group.map(\.batch))
            for (member, result) in zip(group, results) { member.continuation.resume(with: result) }
        }
        writing = false
    }

    /// One transaction for the group; if it fails as a whole, one per request.
    private nonisolated func commit(_ batches: [TelemetryBatch]) async -> [Result<TelemetryBatchOutcome, Error>] {
        do {
            let outcomes = try await store.ingest(batches: batches)
            guard outcomes.count == batches.count else { throw StoreUnavailable() }
            return outcomes.map { .success($0) }
        } catch {
            guard batches.count > 1 else { return [.failure(error)] }
        }
        var results: [Result<TelemetryBatchOutcome, Error>] = []
        for batch in batches {
            do {
                results.append(.success(try await store.ingest(batches: [batch])[0]))
            } catch {
                results.append(.failure(error))
            }
        }
        return results
    }
}
