/// What a worker tells the scheduler about the error a task body threw.
public struct ClusterErrorInfo: Sendable, Equatable {
  /// The error type's full name (`String(reflecting:)`), e.g. `MyModule.FetchError`.
  public var typeName: String
  /// The error as JSON, when its type is registered with `ClusterErrorTypes` (FlowCluster).
  public var payload: [UInt8]?

  /// Creates the information.
  public init(typeName: String, payload: [UInt8]? = nil) {
    self.typeName = typeName
    self.payload = payload
  }
}
