import Foundation
internal import NIOCore
internal import NIOPosix
import Synchronization

/// Copies the WAL into the database file on a connection of its own, beside the writer: a
/// passive checkpoint takes no write lock, so the writer's commits never run one (the writer's
/// own automatic checkpoint only runs past a far larger WAL, when this one falls behind).
///
/// ``wrote(records:)`` is called after each batch; it returns at once, and starts a checkpoint
/// once ``recordsPerCheckpoint`` records have been written since the last one started (pages a
/// run rewrites batch after batch, the right edges of the append-only tables, are then copied
/// once per checkpoint rather than once per batch, and the database file is synced less
/// often). One checkpoint runs at a time on NIO's thread pool; a call while one runs asks for
/// one more after it.
final class SQLiteCheckpointer: Sendable {
  private struct State {
    /// Records written since the last checkpoint started.
    var written = 0
    var running = false
    var again = false
    var closed = false
    var job: EventLoopFuture<Void>?
  }

  private let connection: Mutex<SQLiteWriterConnection>
  private let state = Mutex(State())

  private init(connection: sending SQLiteWriterConnection) {
    self.connection = Mutex(connection)
  }

  /// Opens a connection to the database at `path` (which the writer has opened and set to WAL).
  static func open(path: String, busyTimeoutMilliseconds: Int) async throws -> SQLiteCheckpointer {
    try await NIOThreadPool.singleton.runIfActive(
      eventLoop: MultiThreadedEventLoopGroup.singleton.any()
    ) {
      let connection = try SQLiteWriterConnection(path: path)
      do {
        _ = try connection.execute("PRAGMA busy_timeout = \(busyTimeoutMilliseconds)", [])
        // The checkpoint syncs the database file; commits are the writer's.
        _ = try connection.execute("PRAGMA synchronous = NORMAL", [])
      } catch {
        connection.close()
        throw error
      }
      return SQLiteCheckpointer(connection: connection)
    }.get()
  }

  /// Records written between two checkpoints (a few MB of rows; the writer's own automatic
  /// checkpoint stays far above, ``SQLiteRunStore/writerCheckpointPages``).
  static let recordsPerCheckpoint = 25_000

  /// Counts `records` just committed; past ``recordsPerCheckpoint`` since the last checkpoint,
  /// starts one.
  func wrote(records: Int) {
    let due = state.withLock { state -> Bool in
      state.written += records
      guard state.written >= Self.recordsPerCheckpoint else { return false }
      state.written = 0
      return true
    }
    if due { start() }
  }

  /// Starts a passive checkpoint unless one is running (then one more follows it).
  func start() {
    let begin = state.withLock { state -> Bool in
      guard !state.closed else { return false }
      if state.running {
        state.again = true
        return false
      }
      state.running = true
      return true
    }
    guard begin else { return }
    let job = NIOThreadPool.singleton.runIfActive(
      eventLoop: MultiThreadedEventLoopGroup.singleton.any()
    ) { [self] in
      while true {
        // A failed checkpoint (the database busy past the timeout) is left to the next one,
        // or to the writer's automatic checkpoint.
        connection.withLock { _ = try? $0.execute("PRAGMA wal_checkpoint(PASSIVE)", []) }
        let more = state.withLock { state -> Bool in
          if state.again, !state.closed {
            state.again = false
            return true
          }
          state.running = false
          return false
        }
        if !more { return }
      }
    }
    job.whenFailure { [self] _ in state.withLock { $0.running = false } }
    state.withLock { $0.job = job }
  }

  /// Waits for the running checkpoint and closes the connection.
  func close() async {
    let job = state.withLock { state in
      state.closed = true
      return state.job
    }
    try? await job?.get()
    _ = try? await NIOThreadPool.singleton.runIfActive(
      eventLoop: MultiThreadedEventLoopGroup.singleton.any()
    ) { [self] in
      connection.withLock { $0.close() }
    }.get()
  }
}
