import FlowCore

/// Checks that a location is a relative path inside the store: not empty, not absolute, no
/// `.` or `..` components, no NUL.
enum ResultLocation {
  static func validate(_ location: String) throws(ResultStoreError) {
    func bad(_ why: String) -> ResultStoreError {
      ResultStoreError(
        code: .badLocation, location: location,
        message: "\(why); a result location is a relative path such as 'runs/{task_slug}.json'")
    }
    if location.isEmpty { throw bad("the location is empty") }
    if location.hasPrefix("/") { throw bad("the location is absolute") }
    if location.contains("\0") { throw bad("the location contains a NUL character") }
    let components = location.split(separator: "/", omittingEmptySubsequences: false)
    if components.contains(where: { $0 == ".." || $0 == "." || $0.isEmpty }) {
      throw bad("the location has an empty, '.' or '..' component")
    }
  }
}
