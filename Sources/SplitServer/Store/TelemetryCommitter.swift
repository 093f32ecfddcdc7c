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
struct TelemetryCommitter: Sendable {
    /// Requests with at most this many samples are grouped; larger ones are stored on their own.
    let groupableSamples: Int
    private let store: any APIStore
    private let queue: GroupingQueue<TelemetryBatch, TelemetryBatchOutcome>

    /// Groups requests of up to `groupableSamples` samples into transactions of at most
    /// `maximumGroupSamples` samples.
    init(store: any APIStore, groupableSamples: Int = 100, maximumGroupSamples: Int = 5000) {
        self.store = store
        self.groupableSamples = groupableSamples
        queue = GroupingQueue(
            maximumWeight: max(groupableSamples, maximumGroupSamples), weight: { $0.samples.count },
            handle: { batches in try await store.ingest(batches: batches) })
    }

    /// Stores `batch` (grouped with concurrent ones when small) and says what became of it once
    /// that is durable.
    func ingest(_ batch: TelemetryBatch) async throws -> TelemetryBatchOutcome {
        guard batch.samples.count <= groupableSamples else { return try await store.ingest(batches: [batch])[0] }
        return try await queue.submit(batch)
    }

    /// Requests waiting for the next group (for tests).
    var waiting: Int { get async { await queue.waitingCount } }
}
