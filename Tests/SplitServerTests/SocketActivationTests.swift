import Foundation
import Testing

@testable import SplitServer

/// `sd_listen_fds` as splitd reads it: which variables mean a socket is passed, and which
/// descriptors it refuses to serve on.
@Suite("Socket activation")
struct SocketActivationTests {
    @Test("LISTEN_FDS counts only for the process LISTEN_PID names; zero or none means not activated; more than one is refused")
    func passedCount() throws {
        let me = getpid()
        #expect(try SocketActivation.passedCount(environment: [:], processID: me) == nil)
        #expect(try SocketActivation.passedCount(environment: ["LISTEN_FDS": "1", "LISTEN_PID": "\(me)"], processID: me) == 1)
        #expect(try SocketActivation.passedCount(environment: ["LISTEN_FDS": "1", "LISTEN_PID": "\(me + 1)"], processID: me) == nil)
        #expect(try SocketActivation.passedCount(environment: ["LISTEN_FDS": "1"], processID: me) == nil)
        #expect(try SocketActivation.passedCount(environment: ["LISTEN_FDS": "0", "LISTEN_PID": "\(me)"], processID: me) == nil)
        let two = #expect(throws: ConfigurationError.self) {
            try SocketActivation.passedCount(environment: ["LISTEN_FDS": "2", "LISTEN_PID": "\(me)"], processID: me)
        }
        #expect(two?.description.contains("single ListenStream=") == true, "\(String(describing: two))")
        #expect(throws: ConfigurationError.self) {
            try SocketActivation.passedCount(environment: ["LISTEN_FDS": "three", "LISTEN_PID": "\(me)"], processID: me)
        }
    }

    @Test("an inherited socket beyond loopback needs an admin token, whatever SPLITD_LISTEN says; without one, splitd binds SPLITD_LISTEN")
    func adminTokenRule() throws {
        let configuration = ServerConfiguration()  // 127.0.0.1:8080, no admin token
        let everywhere = InheritedListener(descriptor: 3, address: "0.0.0.0:8080", isLoopback: false)
        let error = #expect(throws: ConfigurationError.self) { try HTTPListener.choose(configuration, inherited: everywhere) }
        #expect(error?.variable == "SPLITD_ADMIN_TOKEN" && error?.description.contains("0.0.0.0:8080") == true)
        var withToken = configuration
        withToken.adminTokens = ["an-admin-token-of-some-length"]
        #expect(try HTTPListener.choose(withToken, inherited: everywhere).description == "0.0.0.0:8080")
        let loopback = InheritedListener(descriptor: 3, address: "127.0.0.1:9000", isLoopback: true)
        #expect(try HTTPListener.choose(configuration, inherited: loopback).description == "127.0.0.1:9000")
        #expect(try HTTPListener.choose(configuration, inherited: nil).description == "127.0.0.1:8080")
    }

    @Test("the Date header is RFC 9110's IMF-fixdate")
    func date() {
        #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
    }
}
