/// Which devices a page of the dashboard's fleet table shows: active devices in id order after
/// `after`, optionally of one model, with an id prefix, or in one state.
package struct DeviceFilter: Sendable, Equatable {
    /// The states the fleet table can be narrowed to (a device can be in several: infeasible and
    /// unplanned, say; `ok` means none of the others).
    package enum State: String, Sendable, CaseIterable {
        /// A plan in force and nothing failing.
        case ok
        /// No plan yet (no link estimate reported yet, or not planned yet).
        case unplanned
        /// No split of its model fits its memory.
        case infeasible
        /// Planning it failed (retried with backoff).
        case failing
        /// A webhook delivery failed or died, or the receiver answered 410 Gone.
        case webhook
    }

    package var after: String?
    package var model: String?
    package var idPrefix: String?
    package var state: State?
    /// Exactly this device (the timeline's header row).
    package var id: String?
    package var limit: Int

    package init(after: String? = nil, model: String? = nil, idPrefix: String? = nil, state: State? = nil, id: String? = nil, limit: Int = 50) {
        self.after = after
        self.model = model
        self.idPrefix = idPrefix
        self.state = state
        self.id = id
        self.limit = limit
    }
}
