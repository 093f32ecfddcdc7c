import ArgumentParser
import Foundation
import SplitCore
import SplitSim

/// `splitctl`: offline planning, evaluation and benchmarks for splitd.
@main
struct SplitCTL: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "splitctl",
        abstract: "Plan, evaluate and benchmark split-learning model splits.",
        version: SplitdVersion.current,
        subcommands: [
            PlanCommand.self, TableCommand.self, EvaluateCommand.self, SimulateCommand.self, TraceCommand.self, BenchCommand.self,
            ValidateCommand.self, ImportCommand.self,
        ])

    /// Runs a command; exit codes: 0 ok, 1 failure, 2 bad input or usage. Never a stack trace.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message: String
            let status: Int32
            switch error {
            case let error as InputError: (message, status) = (error.message, 2)
            case let error as GraphError: (message, status) = (error.description, 2)
            case let error as ProfileError: (message, status) = (error.description, 2)
            case let error as PlanningError: (message, status) = (error.description, error.isMemoryShortfall ? 1 : 2)
            case let error as TraceError: (message, status) = (error.description, 2)
            case let error as FailureError: (message, status) = (error.message, 1)
            default:
                message = oneLine(fullMessage(for: error)) + " (see 'splitctl help')"
                status = code == .validationFailure ? 2 : code.rawValue == 64 ? 2 : 1
            }
            FileHandle.standardError.write(Data("splitctl: error: \(message)\n".utf8))
            Foundation.exit(status)
        }
    }

    /// The first line of an argument parser message without its `Error: ` prefix, with the
    /// bulleted list of valid values that follows it folded in ("Please provide one of the
    /// following: dag, block, ..."), so an error stays one line and still names the choices.
    static func oneLine(_ message: String) -> String {
        let lines = message.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var first = lines.first ?? message
        if first.hasPrefix("Error: ") { first.removeFirst("Error: ".count) }
        let choices = lines.dropFirst().prefix { $0.hasPrefix("  - ") }.map { $0.dropFirst(4) }
        return choices.isEmpty ? first : first + " " + choices.joined(separator: ", ")
    }
}

/// Bad input from the user: exit status 2.
struct InputError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// A failure that is not the user's input: exit status 1.
struct FailureError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

extension PlanningError {
    /// Not enough device memory: a failure to plan (exit 1), not bad input.
    var isMemoryShortfall: Bool {
        switch self {
        case .deviceMemoryExceeded, .splitExceedsDeviceMemory, .noCandidateWithinMemory: return true
        default: return false
        }
    }
}
