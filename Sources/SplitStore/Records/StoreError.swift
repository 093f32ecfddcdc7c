/// A store-level refusal: the request names something that does not exist or already does.
package struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    package enum Kind: String, Sendable { case notFound, conflict, invalid }
    package let kind: Kind
    package let field: String?
    package let message: String

    package init(_ kind: Kind, field: String? = nil, _ message: String) {
        self.kind = kind
        self.field = field
        self.message = message
    }

    package var description: String { message }
}
