import ArgumentParser
import FlowCore
import FlowStorePostgres
import FlowStoreSQLite
import Foundation

/// Where runs are recorded: `sqlite:PATH`, a `postgres://` URL, or nowhere.
public enum RunDatabaseLocation: Sendable, Equatable, CustomStringConvertible {
  /// Not recorded.
  case none
  /// An embedded SQLite database file.
  case sqlite(path: String)
  /// A PostgreSQL server.
  case postgres(url: String)

  /// The environment variable naming the database (`--database` wins).
  public static let environmentVariable = "FLOW_DATABASE"

  /// The default: `~/.flow/flow.sqlite`.
  public static func defaultLocation(environment: [String: String]) -> RunDatabaseLocation {
    let home = environment["HOME"] ?? NSHomeDirectory()
    return .sqlite(
      path: URL(fileURLWithPath: home).appendingPathComponent(".flow/flow.sqlite").path)
  }

  /// The location `option` (`--database`) or else `FLOW_DATABASE` names, or the default.
  public static func resolve(option: String?, environment: [String: String]) throws(RunStoreError)
    -> RunDatabaseLocation
  {
    if let option { return try parse(option, source: "--database") }
    if let value = environment[environmentVariable], !value.isEmpty {
      return try parse(value, source: environmentVariable)
    }
    return defaultLocation(environment: environment)
  }

  /// Parses `text`; `source` names where it came from, for the error.
  public static func parse(_ text: String, source: String = "--database") throws(RunStoreError)
    -> RunDatabaseLocation
  {
    if text == "none" { return .none }
    if text.hasPrefix("sqlite:") {
      var path = String(text.dropFirst("sqlite:".count))
      if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
      if path.hasPrefix("~/") {
        path = NSHomeDirectory() + path.dropFirst(1)
      }
      guard !path.isEmpty else {
        throw RunStoreError(
          .invalidLocation, location: text,
          message: "\(source) '\(text)' names no file; write sqlite:PATH, e.g. "
            + "sqlite:/var/lib/flow/flow.sqlite")
      }
      return .sqlite(
        path: URL(
          fileURLWithPath: path,
          relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        )
        .standardizedFileURL.path)
    }
    if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
      return .postgres(url: text)
    }
    throw RunStoreError(
      .invalidLocation, location: text,
      message: "\(source) '\(text)' is not a database location; write sqlite:PATH, "
        + "postgres://USER:PASSWORD@HOST:PORT/DATABASE, or none")
  }

  /// How the location is shown (a PostgreSQL password is hidden).
  public var description: String {
    switch self {
    case .none: "none"
    case .sqlite(let path): "sqlite:\(path)"
    case .postgres(let url): PostgresRunStore.redacted(url)
    }
  }

  /// What `--database` takes to name this location again.
  var argument: String {
    switch self {
    case .none: "none"
    case .sqlite(let path): "sqlite:\(path)"
    case .postgres(let url): url
    }
  }

  /// Runs `body` with the opened store (nil for `none`), then closes it. With `migrating`, an
  /// older or empty database is upgraded first.
  public func withStore<T: Sendable>(
    migrating: Bool = true, _ body: ((any RunStore)?) async throws -> T
  ) async throws -> T {
    switch self {
    case .none:
      return try await body(nil)
    case .sqlite(let path):
      let store = try await SQLiteRunStore.open(path: path, migrating: migrating)
      do {
        let result = try await body(store)
        await store.close()
        return result
      } catch {
        await store.close()
        throw error
      }
    case .postgres(let url):
      return try await PostgresRunStore.withStore(url: url, migrating: migrating) {
        try await body($0)
      }
    }
  }
}

/// `--database sqlite:PATH | postgres://... | none`, shared by every command that touches the
/// run history.
struct DatabaseOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "Where runs are recorded: sqlite:PATH, postgres://USER:PASSWORD@HOST:PORT/DB, or none "
        + "(default: FLOW_DATABASE or sqlite:~/.flow/flow.sqlite).", valueName: "location"))
  var database: String?

  /// The location named by the option, the environment, or the default.
  func location() throws -> RunDatabaseLocation {
    do {
      return try RunDatabaseLocation.resolve(
        option: database, environment: CommandContext.environment)
    } catch {
      throw ValidationError(error.message)
    }
  }

  /// Runs `body` with the opened store; a usage error for `none`, and a store error as a
  /// failure naming the problem and the fix.
  func withStore<T: Sendable>(
    migrating: Bool = true, _ body: (any RunStore) async throws -> T
  ) async throws -> T {
    let location = try location()
    do {
      return try await location.withStore(migrating: migrating) { store in
        guard let store else {
          throw ValidationError(
            "--database none records nothing, so there is nothing to read; name a database "
              + "with --database or FLOW_DATABASE")
        }
        return try await body(store)
      }
    } catch let error as RunStoreError {
      throw CommandFailure(error.description)
    }
  }
}

/// A command failed for a reason the message names (exit status 1).
struct CommandFailure: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// What the commands read from their process: the environment and the output, from the flow
/// executable's invocation when there is one (tests inject both).
enum CommandContext {
  static var environment: [String: String] {
    FlowCommandLine.environment ?? ProcessInfo.processInfo.environment
  }

  static var output: FlowCommandOutput { FlowCommandLine.current?.output ?? .standard }
}
