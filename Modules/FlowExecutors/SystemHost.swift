import Foundation

/// The host name and process ID a recorded run is stamped with (read from the system here
/// only, DESIGN rule 1).
public enum SystemHost {
  /// This machine's host name.
  public static var name: String { ProcessInfo.processInfo.hostName }
  /// This process's ID.
  public static var processID: Int { Int(ProcessInfo.processInfo.processIdentifier) }
}
