import Foundation
import Testing

@testable import SplitPush

@Suite("Callback URLs: one reading, libcurl's")
struct CallbackURLTests {
    @Test(
        "accepted URLs are written back as libcurl is given them, with their receiver (origin)",
        arguments: [
            ("https://Example.COM/hook", "https://example.com/hook", "https://example.com:443"),
            ("HTTPS://example.com", "https://example.com/", "https://example.com:443"),
            ("https://example.com?x=1", "https://example.com/?x=1", "https://example.com:443"),
            ("http://127.0.0.1:8080/hook?a=b&c=%2F", "http://127.0.0.1:8080/hook?a=b&c=%2F", "http://127.0.0.1:8080"),
            ("http://127.0.0.1:80/x", "http://127.0.0.1/x", "http://127.0.0.1:80"),
            ("http://127.0.0.1:08080/x", "http://127.0.0.1:8080/x", "http://127.0.0.1:8080"),
            ("https://[::1]:9/x", "https://[::1]:9/x", "https://[::1]:9"),
            ("https://[0:0:0:0:0:0:0:1]/x", "https://[::1]/x", "https://[::1]:443"),
            ("https://[::FFFF:127.0.0.1]/x", "https://[::ffff:127.0.0.1]/x", "https://[::ffff:127.0.0.1]:443"),
            // Every IPv4 spelling inet_aton and libcurl read, written as dotted decimal.
            ("https://2130706433/x", "https://127.0.0.1/x", "https://127.0.0.1:443"),
            ("https://0x7f000001/x", "https://127.0.0.1/x", "https://127.0.0.1:443"),
            ("https://0177.0.0.1/x", "https://127.0.0.1/x", "https://127.0.0.1:443"),
            ("https://127.1/x", "https://127.0.0.1/x", "https://127.0.0.1:443"),
            ("https://10.1.258/x", "https://10.1.1.2/x", "https://10.1.1.2:443"),
            ("https://LOCALHOST./x", "https://localhost./x", "https://localhost.:443"),
            ("https://receiver_1.lan:4443/a/b", "https://receiver_1.lan:4443/a/b", "https://receiver_1.lan:4443"),
            ("https://xn--bcher-kva.example/x", "https://xn--bcher-kva.example/x", "https://xn--bcher-kva.example:443"),
        ])
    func accepted(text: String, normalized: String, origin: String) throws {
        let url = try CallbackURL(text)
        #expect(url.description == normalized)
        #expect(url.origin == origin)
        #expect(try CallbackURL(url.description) == url, "reading the normalized form again changes nothing")
        // libcurl's own URL parser reads the form it is handed as the same receiver.
        let curl = try LibcurlURL.parts(url.description).get()
        #expect(curl.scheme == url.scheme && curl.port == url.port, "\(curl)")
    }

    @Test(
        "URLs libcurl cannot use, or would read otherwise, are refused with the reason",
        arguments: [
            ("http://[127.0.0.1]:8080/x", "IPv4 address is written without brackets"),
            ("https://bücher.example/x", "non-ASCII"),
            ("https://例え.jp/", "non-ASCII"),
            ("https://example.com/ü", "non-ASCII"),
            ("https://8.8.8.8%00.evil.com/x", "percent-encoded"),
            ("https://8.8.8.8\u{0}.evil.com/x", "NUL"),
            ("https://ex%61mple.com/x", "percent-encoded"),
            ("https://[fe80::1%25eth0]/x", "zone ids"),
            ("https://[fe80::1%eth0]/x", "zone ids"),
            ("https://[::1/x", "'[' without ']'"),
            ("https://[::1]x/x", "after the IPv6 address"),
            ("https://[not-an-address]/x", "is not an IPv6 address"),
            ("https://example.com:/x", "port after ':' is empty"),
            ("https://example.com:0/x", "is not in 1...65535"),
            ("https://example.com:65536/x", "is not in 1...65535"),
            ("https://example.com:+80/x", "is not in 1...65535"),
            ("https://example.com:8o/x", "is not in 1...65535"),
            ("https://example.com/#frag", "fragments"),
            ("https://user:pw@example.com/x", "credentials"),
            ("https://@example.com/x", "credentials"),
            ("https://example.com\\@evil.com/x", "backslash"),
            ("https:///x", "host is empty"),
            ("https://exa mple.com/", "spaces"),
            ("https://example.com/\r\nHost: evil", "line breaks"),
            ("https://example.com/a b", "spaces"),
            ("https://example.com/a\"b", "percent-encode it"),
            ("https://example.com/a%zz", "two hex digits"),
            ("https://example.com/a%4", "two hex digits"),
            ("https://exa!mple.com/", "'!' is not allowed in a host"),
            ("https://a..b/", "not a valid host name"),
            ("https://" + String(repeating: "a", count: 64) + ".com/", "not a valid host name"),
            ("https://example.123/", "neither a host name nor an IPv4 address"),
            ("https://127.0.0.1./", "neither a host name nor an IPv4 address"),
            ("https://256.0.0.1/", "not a valid IPv4 address"),
            ("https://1.2.3.4.5/", "not a valid IPv4 address"),
            ("https://08.0.0.1/", "not a valid IPv4 address"),
            ("https://0x/", "not a valid IPv4 address"),
            ("https://4294967296/", "not a valid IPv4 address"),
            ("ftp://example.com/x", "scheme 'ftp' is not http(s)"),
            ("file:///etc/passwd", "scheme 'file' is not http(s)"),
            ("example.com/hook", "not an absolute"),
            ("not a url", "spaces"),
            ("https://example.com/" + String(repeating: "a", count: 2100), "longer than 2048 bytes"),
        ])
    func refused(text: String, reason: String) {
        do {
            let url = try CallbackURL(text)
            Issue.record("accepted \(text.debugDescription) as \(url)")
        } catch {
            #expect(error.description.contains(reason), "\(text.debugDescription): \(error)")
        }
    }

    @Test("the SSRF guard reads URLs with the same parser: a URL refused here is refused at registration and at delivery")
    func policyUsesTheParser() async throws {
        let policy = try TargetPolicy(allowList: ["127.0.0.1", "::1", "0.0.0.0/0", "::/0"])
        for text in ["http://[127.0.0.1]:8080/x", "https://8.8.8.8%00.evil.com/x", "https://bücher.example/x"] {
            #expect(throws: WebhookError.self, "\(text)") { try policy.vet(text) }
        }
        // Delivery vets the parsed URL (resolving off the cooperative pool): the same target.
        let text = "http://0x7f000001:8080/hook"
        let registered = try policy.vet(text)
        let delivered = try await policy.vet(try CallbackURL(text), timeoutSeconds: 5)
        #expect(registered == delivered)
        #expect(delivered.url == "http://127.0.0.1:8080/hook" && delivered.address == "127.0.0.1" && delivered.origin == "http://127.0.0.1:8080")
    }

    @Test("a host that does not resolve is unresolvable (retried at delivery), not forbidden")
    func unresolvable() async throws {
        let policy = try TargetPolicy()
        await #expect {
            _ = try await policy.vet(try CallbackURL("https://no-such-host.invalid/x"), timeoutSeconds: 5)
        } throws: { error in
            if case WebhookError.unresolvable = error { return true }
            return false
        }
    }
}
