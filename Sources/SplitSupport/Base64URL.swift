/// Base64url without padding (RFC 4648 section 5): the alphabet safe in URLs, headers and ids.
package enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// `bytes` encoded, without `=` padding.
    package static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var characters: [UInt8] = []
        characters.reserveCapacity((bytes.count * 4 + 2) / 3)
        var iterator = bytes.makeIterator()
        while let first = iterator.next() {
            let second = iterator.next(), third = iterator.next()
            let group = UInt32(first) << 16 | UInt32(second ?? 0) << 8 | UInt32(third ?? 0)
            characters.append(alphabet[Int(group >> 18 & 63)])
            characters.append(alphabet[Int(group >> 12 & 63)])
            if second != nil { characters.append(alphabet[Int(group >> 6 & 63)]) }
            if third != nil { characters.append(alphabet[Int(group & 63)]) }
        }
        return String(decoding: characters, as: UTF8.self)
    }
}
