import FlowCore
import Foundation
internal import NIOCore
internal import NIOPosix
import Synchronization
internal import VaporCSQLite

/// A failure of the writer connection: SQLite's primary result code and its message.
struct SQLiteWriterError: Error, CustomStringConvertible {
  /// The primary result code (`SQLITE_CONSTRAINT`, `SQLITE_NOTADB`…).
  let code: Int32
  /// SQLite's message.
  let message: String

  var description: String { message }

  /// A UNIQUE or primary-key constraint failed.
  var isConstraint: Bool { code == SQLITE_CONSTRAINT }
  /// The file is not a database, or a damaged one.
  var isNotADatabase: Bool { code == SQLITE_NOTADB || code == SQLITE_CORRUPT }
  /// The file cannot be opened or written.
  var isUnopenable: Bool {
    code == SQLITE_CANTOPEN || code == SQLITE_PERM || code == SQLITE_READONLY
  }
}

/// The store's writer connection, on sqlite3 directly through the C library SQLiteNIO links.
///
/// SQLiteNIO prepares, binds through an array of its own values and finalizes every statement
/// anew; the writer keeps each statement it runs prepared for the next batch, and a whole
/// transaction runs as one job on NIO's thread pool (one hop per batch, not one per statement).
/// Jobs are never cancelled once submitted, so a transaction is not cut short.
final class SQLiteWriter: Sendable {
  private let connection: Mutex<SQLiteWriterConnection>

  private init(connection: sending SQLiteWriterConnection) {
    self.connection = Mutex(connection)
  }

  /// Opens (creating it when missing) the database file at `path`.
  static func open(path: String) async throws -> SQLiteWriter {
    try await NIOThreadPool.singleton.runIfActive(
      eventLoop: MultiThreadedEventLoopGroup.singleton.any()
    ) {
      SQLiteWriter(connection: try SQLiteWriterConnection(path: path))
    }.get()
  }

  /// Runs `body` on the connection, on a thread-pool thread, alone.
  func run<T: Sendable>(_ body: @escaping @Sendable (SQLiteWriterConnection) throws -> T)
    async throws -> T
  {
    try await NIOThreadPool.singleton.runIfActive(
      eventLoop: MultiThreadedEventLoopGroup.singleton.any()
    ) {
      try self.connection.withLock { try body($0) }
    }.get()
  }

  /// Runs one statement and returns its rows.
  func execute(_ sql: String, _ binds: [SQLValue] = []) async throws -> [SQLRow] {
    try await run { try $0.execute(sql, binds) }
  }

  /// Finalizes the statements and closes the connection.
  func close() async {
    _ = try? await run { $0.close() }
  }
}

/// The writer's sqlite3 handle and its prepared statements by SQL text. Used only inside
/// ``SQLiteWriter/run(_:)`` (one thread at a time).
final class SQLiteWriterConnection {
  private var handle: OpaquePointer?
  private var statements: [String: OpaquePointer] = [:]
  /// The most statements kept prepared (prune's and the deployments' statements vary in
  /// their number of placeholders; past this many all are finalized and prepared again).
  private static let cacheLimit = 128
  private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

  init(path: String) throws {
    var handle: OpaquePointer?
    // No mutex of SQLite's own: the connection is used by one thread at a time (under
    // ``SQLiteWriter``'s or ``SQLiteCheckpointer``'s lock), and every call would take it.
    let flags = SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX
    let code = sqlite_nio_sqlite3_open_v2(path, &handle, flags, nil)
    guard code == SQLITE_OK, let handle else {
      let message = handle.map { String(cString: sqlite_nio_sqlite3_errmsg($0)) } ?? "out of memory"
      sqlite_nio_sqlite3_close_v2(handle)
      throw SQLiteWriterError(code: code & 0xff, message: message)
    }
    self.handle = handle
  }

  private func failure(_ code: Int32) -> SQLiteWriterError {
    let message = handle.map { String(cString: sqlite_nio_sqlite3_errmsg($0)) } ?? "closed"
    return SQLiteWriterError(code: code & 0xff, message: message)
  }

  /// The prepared statement of `sql` (prepared on first use, then reused).
  func statement(_ sql: String) throws -> OpaquePointer {
    if let cached = statements[sql] { return cached }
    guard let handle else {
      throw SQLiteWriterError(code: SQLITE_MISUSE, message: "the writer connection is closed")
    }
    if statements.count >= Self.cacheLimit { finalizeAll() }
    var statement: OpaquePointer?
    let code = sqlite_nio_sqlite3_prepare_v3(
      handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
    guard code == SQLITE_OK, let statement else { throw failure(code) }
    statements[sql] = statement
    return statement
  }

  /// Runs `sql` with `binds` and returns its rows.
  func execute(_ sql: String, _ binds: [SQLValue]) throws -> [SQLRow] {
    let statement = try self.statement(sql)
    defer { sqlite_nio_sqlite3_clear_bindings(statement) }
    for (index, value) in binds.enumerated() {
      let position = Int32(index + 1)
      switch value {
      case .integer(let number): try bind(statement, position, number)
      case .text(let text): try bind(statement, position, text)
      case .blob(let data): try bind(statement, position, data)
      case .null: try bindNull(statement, position)
      }
    }
    var rows: [SQLRow] = []
    while true {
      let code = sqlite_nio_sqlite3_step(statement)
      if code == SQLITE_ROW {
        rows.append(row(statement))
        continue
      }
      let error = code == SQLITE_DONE ? nil : failure(code)
      sqlite_nio_sqlite3_reset(statement)
      if let error { throw error }
      return rows
    }
  }

  /// Steps a statement whose values are bound (an INSERT or UPDATE) and resets it.
  func step(_ statement: OpaquePointer) throws {
    let code = sqlite_nio_sqlite3_step(statement)
    let error = code == SQLITE_DONE || code == SQLITE_ROW ? nil : failure(code)
    sqlite_nio_sqlite3_reset(statement)
    if let error { throw error }
  }

  /// Binds a number to the placeholder at `index` (from 1).
  func bind(_ statement: OpaquePointer, _ index: Int32, _ value: Int64) throws {
    try check(sqlite_nio_sqlite3_bind_int64(statement, index, value))
  }

  /// Binds text (NULL for nil) to the placeholder at `index`.
  func bind(_ statement: OpaquePointer, _ index: Int32, _ value: String?) throws {
    guard var text = value else { return try bindNull(statement, index) }
    let code = text.withUTF8 { bytes -> Int32 in
      guard let base = bytes.baseAddress, bytes.count > 0 else {
        return sqlite_nio_sqlite3_bind_text64(
          statement, index, "", 0, Self.transient, UInt8(SQLITE_UTF8))
      }
      return base.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
        sqlite_nio_sqlite3_bind_text64(
          statement, index, $0, UInt64(bytes.count), Self.transient, UInt8(SQLITE_UTF8))
      }
    }
    try check(code)
  }

  /// Binds bytes to the placeholder at `index`.
  func bind(_ statement: OpaquePointer, _ index: Int32, _ value: Data) throws {
    let code = value.withUnsafeBytes { bytes -> Int32 in
      guard let base = bytes.baseAddress, bytes.count > 0 else {
        return sqlite_nio_sqlite3_bind_zeroblob(statement, index, 0)
      }
      return sqlite_nio_sqlite3_bind_blob64(
        statement, index, base, UInt64(bytes.count), Self.transient)
    }
    try check(code)
  }

  /// Binds NULL to the placeholder at `index`.
  func bindNull(_ statement: OpaquePointer, _ index: Int32) throws {
    try check(sqlite_nio_sqlite3_bind_null(statement, index))
  }

  private func check(_ code: Int32) throws {
    guard code == SQLITE_OK else { throw failure(code) }
  }

  private func row(_ statement: OpaquePointer) -> SQLRow {
    var row: SQLRow = [:]
    let count = sqlite_nio_sqlite3_column_count(statement)
    for column in 0..<count {
      let name = String(cString: sqlite_nio_sqlite3_column_name(statement, column))
      switch sqlite_nio_sqlite3_column_type(statement, column) {
      case SQLITE_INTEGER:
        row[name] = .integer(sqlite_nio_sqlite3_column_int64(statement, column))
      case SQLITE_FLOAT:
        row[name] = .integer(Int64(sqlite_nio_sqlite3_column_double(statement, column)))
      case SQLITE_TEXT:
        let text = sqlite_nio_sqlite3_column_text(statement, column)
        let length = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
        row[name] = .text(
          text.map {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
          }
            ?? "")
      case SQLITE_BLOB:
        let bytes = sqlite_nio_sqlite3_column_blob(statement, column)
        let length = Int(sqlite_nio_sqlite3_column_bytes(statement, column))
        row[name] = .blob(bytes.map { Data(bytes: $0, count: length) } ?? Data())
      default:
        row[name] = .null
      }
    }
    return row
  }

  private func finalizeAll() {
    for statement in statements.values { sqlite_nio_sqlite3_finalize(statement) }
    statements.removeAll()
  }

  /// Finalizes every statement and closes the handle.
  func close() {
    finalizeAll()
    sqlite_nio_sqlite3_close_v2(handle)
    handle = nil
  }
}
