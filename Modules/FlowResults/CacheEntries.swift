import FlowCore
import Foundation
import Synchronization

/// Every cache entry kept under one cache key, stored as one value at `cache/KEY` (Prefect 1
/// keeps a list of cached states per key): newest first, expired entries dropped when an entry
/// is added. Mapped children of a task share their key, so a child may reuse an entry that a
/// sibling wrote, as in Prefect.
public struct CacheEntries: Sendable, Equatable {
  /// The serializer name of the stored list.
  public static let serializer = "cache-entries"

  /// The entries, newest first; each is an output with its `expires` and fingerprint metadata.
  public var entries: [StoredResult]

  /// A list of entries.
  public init(entries: [StoredResult] = []) {
    self.entries = entries
  }

  private struct Entry: Codable {
    var serializer: String
    var typeName: String
    var payload: Data
    var metadata: [String: String]
  }

  /// Reads the entries stored at `location`: none when nothing is there; a value written by an
  /// older version (one entry, not a list) counts as one entry.
  public static func read(from store: any ResultStore, at location: String)
    throws(ResultStoreError) -> CacheEntries
  {
    guard let stored = try store.read(at: location) else { return CacheEntries() }
    guard stored.serializer == serializer else { return CacheEntries(entries: [stored]) }
    do {
      let list = try JSONDecoder().decode([Entry].self, from: stored.payload)
      return CacheEntries(
        entries: list.map {
          StoredResult(
            serializer: $0.serializer, typeName: $0.typeName, payload: $0.payload,
            metadata: $0.metadata)
        })
    } catch {
      throw ResultStoreError(
        code: .corrupt, location: location,
        message: "the cache entries do not decode (\(error)); delete the file to reset the cache")
    }
  }

  /// The list as one stored value.
  func stored() -> StoredResult {
    let list = entries.map {
      Entry(
        serializer: $0.serializer, typeName: $0.typeName, payload: $0.payload, metadata: $0.metadata
      )
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    // An array of strings, data and string dictionaries always encodes.
    let payload = try! encoder.encode(list)
    return StoredResult(
      serializer: Self.serializer, typeName: "[StoredResult]", payload: payload,
      metadata: ["count": String(entries.count)])
  }

  /// When `entry` expires (its `expires` metadata, seconds since 1970; the distant past when
  /// missing).
  static func expiry(of entry: StoredResult) -> Date {
    Date(timeIntervalSince1970: Double(entry.metadata["expires"] ?? "") ?? 0)
  }

  /// Serializes read-modify-write of entry lists by the runs of this process.
  private static let writing = Mutex(())

  /// Adds `entry` at `location` (first, as the newest), dropping entries that expired by `now`
  /// and an older entry equal to it (same value and fingerprints).
  static func add(
    _ entry: StoredResult, to store: any ResultStore, at location: String, now: Date
  ) throws(ResultStoreError) {
    try writing.withLock { _ throws(ResultStoreError) in
      try addUnlocked(entry, to: store, at: location, now: now)
    }
  }

  private static func addUnlocked(
    _ entry: StoredResult, to store: any ResultStore, at location: String, now: Date
  ) throws(ResultStoreError) {
    var list: CacheEntries
    do {
      list = try read(from: store, at: location)
    } catch {
      // A damaged list is replaced rather than blocking every write; other errors stand.
      guard error.code == .corrupt || error.code == .wrongType else { throw error }
      list = CacheEntries()
    }
    list.entries.removeAll { old in
      now >= expiry(of: old)
        || (old.payload == entry.payload && old.typeName == entry.typeName
          && old.metadata.filter { $0.key != "expires" }
            == entry.metadata.filter { $0.key != "expires" })
    }
    list.entries.insert(entry, at: 0)
    try store.write(list.stored(), at: location)
  }
}
