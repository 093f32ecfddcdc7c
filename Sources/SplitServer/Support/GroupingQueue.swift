/// Turns concurrent single requests into batches for one worker: whatever arrives while the
/// worker handles a batch waits and forms the next one (group commit). Each caller gets its own
/// result, only once the batch holding its request has been handled. If a whole batch fails,
/// its requests are handled one by one, so one request cannot fail the others.
actor GroupingQueue<Input: Sendable, Output: Sendable> {
    /// Handles a batch; returns one output per input, in order.
    typealias Handler = @Sendable ([Input]) async throws -> [Output]

    private let handle: Handler
    private let weight: @Sendable (Input) -> Int
    private let maximumWeight: Int
    private var waiting: [(input: Input, continuation: CheckedContinuation<Output, Error>)] = []
    private var working = false

    /// `handle` gets batches whose total `weight` is at most `maximumWeight` (or a single input).
    init(maximumWeight: Int, weight: @escaping @Sendable (Input) -> Int = { _ in 1 }, handle: @escaping Handler) {
        self.handle = handle
        self.weight = weight
        self.maximumWeight = maximumWeight
    }

    /// Inputs waiting for the next batch (for tests).
    var waitingCount: Int { waiting.count }

    /// Queues `input` and returns its output once its batch has been handled.
    func submit(_ input: Input) async throws -> Output {
        try await withCheckedThrowingContinuation { continuation in
            waiting.append((input, continuation))
            if !working {
                working = true
                Task { await self.drain() }
            }
        }
    }

    private func drain() async {
        while !waiting.isEmpty {
            var count = 0, total = 0
            while count < waiting.count, count == 0 || total + weight(waiting[count].input) <= maximumWeight {
                total += weight(waiting[count].input)
                count += 1
            }
            let batch = Array(waiting.prefix(count))
            waiting.removeFirst(count)
            let results = await run(batch.map(\.input))
            for (member, result) in zip(batch, results) { member.continuation.resume(with: result) }
        }
        working = false
    }

    /// The batch at once; if that fails as a whole (or answers the wrong number), one by one.
    private nonisolated func run(_ inputs: [Input]) async -> [Result<Output, Error>] {
        do {
            let outputs = try await handle(inputs)
            if outputs.count == inputs.count { return outputs.map { .success($0) } }
            if inputs.count == 1 { return [.failure(GroupingError(expected: 1, got: outputs.count))] }
        } catch {
            if inputs.count == 1 { return [.failure(error)] }
        }
        var results: [Result<Output, Error>] = []
        for input in inputs {
            do {
                let outputs = try await handle([input])
                guard let output = outputs.first, outputs.count == 1 else { throw GroupingError(expected: 1, got: outputs.count) }
                results.append(.success(output))
            } catch {
                results.append(.failure(error))
            }
        }
        return results
    }
}

/// A batch handler answered with the wrong number of results (a bug; the request gets a 500).
struct GroupingError: Error, CustomStringConvertible {
    let expected: Int
    let got: Int
    var description: String { "a batch handler returned \(got) results for \(expected) inputs" }
}
