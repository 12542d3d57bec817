import FlowCore
import Foundation

extension ResultStore {
  /// Reads the value at `location` as `T`, as another flow wrote it (Prefect's
  /// `LocalResult(dir=...).read(location=...)`); throws when nothing is there, when the file is
  /// damaged, or when it holds another type.
  public func read<T: Sendable>(_ type: T.Type, at location: String) throws(ResultStoreError)
    -> T
  {
    guard let serializer = ResultSerializer.automatic(for: T.self) else {
      throw ResultStoreError(
        code: .wrongType, location: location,
        message: "\(T.self) cannot be read from a store: make it Codable")
    }
    guard let stored = try read(at: location) else {
      throw ResultStoreError(
        code: .notFound, location: location, message: "nothing is stored here (in \(description))")
    }
    return try serializer.decode(stored, at: location) as! T
  }
}
