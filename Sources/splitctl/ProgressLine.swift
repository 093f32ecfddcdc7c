import Foundation

/// Progress of a long-running command (`simulate`, `bench`) on stderr, the one implementation
/// every command uses.
///
/// Nothing is shown for work that finishes within a second. On a terminal the line redraws in
/// place (`\r`, at most five times a second) and is erased at the end; anywhere else (a pipe, a
/// file, a CI log) a carriage return would garble the output, so it writes a plain line at most
/// every `plainLineIntervalSeconds` instead, and leaves it there.
final class ProgressLine {
    /// Seconds of work before anything is shown.
    static let quietSeconds = 1.0
    /// Seconds between redraws on a terminal.
    static let redrawIntervalSeconds = 0.2
    /// Seconds between plain lines when stderr is not a terminal.
    static let plainLineIntervalSeconds = 10.0

    private let label: String
    private let isTerminal: Bool
    private let started = Date()
    private var shown = false
    private var lastWritten: Date

    /// A progress line for work named `label` ("simulating vgg16").
    init(label: String) {
        self.label = label
        isTerminal = isatty(STDERR_FILENO) == 1
        // The first plain line comes one interval in, not after a second: a log gains nothing
        // from a line for work that ends a few seconds later.
        lastWritten = isTerminal ? .distantPast : started
    }

    /// Reports that `fraction` (0...1) of the work is done.
    func update(_ fraction: Double) {
        let now = Date()
        let interval = isTerminal ? Self.redrawIntervalSeconds : Self.plainLineIntervalSeconds
        guard now.timeIntervalSince(started) > Self.quietSeconds, now.timeIntervalSince(lastWritten) >= interval else { return }
        lastWritten = now
        shown = true
        let percent = Int((min(max(fraction, 0), 1) * 100).rounded(.down))
        let text = isTerminal ? "\r\(label): \(percent)%\u{1B}[K" : "\(label): \(percent)%\n"
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Ends the progress: erases the terminal line (plain lines stay, as a record).
    func finish() {
        if shown && isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
