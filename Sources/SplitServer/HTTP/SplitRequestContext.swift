import Hummingbird
import Logging

/// Per-request context: Hummingbird's core storage plus who is calling.
public struct SplitRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}

/// Who a request comes from.
enum Principal: Equatable, Sendable {
    case admin
    case device(String)
}
