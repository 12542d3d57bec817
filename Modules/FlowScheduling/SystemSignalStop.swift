import Dispatch
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Turns SIGINT and SIGTERM into a graceful stop of a schedule runner: the running run
/// finishes, uncancelled, then the runner returns (Ctrl-C or `kill` of a scheduled flow).
///
/// While installed, the signals' default action (ending the process) is replaced: the first
/// signal only requests ``stop``; a second one (Ctrl-C again, when the run takes too long)
/// calls `onRepeat`: pass ``forceQuit(_:)`` to quit the process at once with the signal's
/// usual status, as the `schedule` command does. ``cancel()`` (or releasing the object) restores what was there.
/// ```swift
/// let signals = SystemSignalStop()
/// defer { signals.cancel() }
/// let summary = try await flow.runOnSchedule(stop: signals.stop)
/// ```
public final class SystemSignalStop: Sendable {
  /// The stop signal requested when one of ``signals`` arrives.
  public let stop: ScheduleStopSignal
  /// The signal numbers handled.
  public let signals: [Int32]

  private typealias Handler = @convention(c) (Int32) -> Void

  private struct Installed {
    var sources: [any DispatchSourceSignal]
    /// The disposition each signal had before, restored by `cancel()`.
    var previous: [(signal: Int32, handler: Handler?)]
  }

  private let state: Mutex<Installed?>
  private let received = SignalLog()

  /// Handles `signals` (SIGINT and SIGTERM by default) by requesting `stop`, and calls
  /// `onSignal` with each signal number received (from a dispatch queue; keep it quick); from
  /// the second signal on, also `onRepeat` (e.g. ``forceQuit(_:)``).
  public init(
    signals: [Int32] = [SIGINT, SIGTERM], stop: ScheduleStopSignal = ScheduleStopSignal(),
    onSignal: @escaping @Sendable (Int32) -> Void = { _ in },
    onRepeat: @escaping @Sendable (Int32) -> Void = { _ in }
  ) {
    self.stop = stop
    self.signals = signals
    let queue = DispatchQueue(label: "swift-flow.signal-stop")
    var sources: [any DispatchSourceSignal] = []
    var previous: [(signal: Int32, handler: Handler?)] = []
    let received = received
    for number in signals {
      let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
      // Ignore the default action so that only the source sees the signal.
      previous.append((number, signal(number, SIG_IGN)))
      source.setEventHandler {
        let count = received.values.withLock { values in
          values.append(number)
          return values.count
        }
        stop.requestStop(reason: Self.name(of: number))
        onSignal(number)
        if count > 1 { onRepeat(number) }
      }
      source.resume()
      sources.append(source)
    }
    state = Mutex(Installed(sources: sources, previous: previous))
  }

  /// The signals received so far, in order.
  public var receivedSignals: [Int32] { received.values.withLock { $0 } }

  /// Removes the handlers and restores each signal's previous disposition; safe to call twice.
  public func cancel() {
    let installed = state.withLock { state in
      defer { state = nil }
      return state
    }
    guard let installed else { return }
    for source in installed.sources { source.cancel() }
    for (number, handler) in installed.previous { signal(number, handler) }
  }

  deinit { cancel() }

  /// Ends the process now as `number` would by default (a second Ctrl-C): restores the
  /// default action and raises the signal again.
  @Sendable public static func forceQuit(_ number: Int32) {
    let line = "\(name(of: number)) again: quitting without waiting for the running flow run\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    signal(number, SIG_DFL)
    raise(number)
  }

  /// `SIGINT`, `SIGTERM`… for the signals a runner is usually stopped with, else `signal N`.
  public static func name(of number: Int32) -> String {
    switch number {
    case SIGINT: "SIGINT"
    case SIGTERM: "SIGTERM"
    case SIGHUP: "SIGHUP"
    case SIGQUIT: "SIGQUIT"
    case SIGUSR1: "SIGUSR1"
    case SIGUSR2: "SIGUSR2"
    default: "signal \(number)"
    }
  }
}

/// The signals a ``SystemSignalStop`` received, shared with its dispatch sources' handlers.
private final class SignalLog: Sendable {
  let values = Mutex<[Int32]>([])
}
