/// An error that stands in for another one thrown elsewhere (on a cluster worker) and keeps
/// the original type's full name (`String(reflecting:)`), so that type-based checks such as
/// `RetryPolicy.RetryCondition.errors(_:)` match it as they would the original.
public protocol ErrorTypeNaming: Error {
  /// The original error type's full name, e.g. `MyModule.FetchError`.
  var originalTypeName: String { get }
}
