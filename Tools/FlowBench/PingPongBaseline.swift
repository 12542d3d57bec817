import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// The cluster rows' baseline: two processes on loopback handing one small message back and
// forth, one message per wake-up, with nothing batched (the hand-off limit a cluster beats only
// by sending several tasks per frame). Blocking sockets: the cheapest hand-off there is.

/// Messages handed over per second between this process and a child `--pingpong-child PORT`
/// that echoes each one: `roundTrips` round trips of 8 bytes over TCP on loopback (Nagle off),
/// two hand-offs each, after a warm-up.
func pingPongMessagesPerSecond(roundTrips: Int) throws -> Double {
  let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard listener >= 0 else { throw BenchError(message: "ping-pong: socket failed") }
  defer { close(listener) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  address.sin_port = 0
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  let bound = withUnsafeMutablePointer(to: &address) { pointer in
    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
      bind(listener, raw, length) == 0 && listen(listener, 1) == 0
        && getsockname(listener, raw, &length) == 0
    }
  }
  guard bound else { throw BenchError(message: "ping-pong: cannot listen on loopback") }
  let port = UInt16(bigEndian: address.sin_port)
  let process = Process()
  process.executableURL = Bundle.main.executableURL
  process.arguments = ["--pingpong-child", "\(port)"]
  process.standardInput = FileHandle.nullDevice
  try process.run()
  defer { process.waitUntilExit() }
  let connection = accept(listener, nil, nil)
  guard connection >= 0 else { throw BenchError(message: "ping-pong: accept failed") }
  defer { close(connection) }
  noDelay(connection)
  var message: UInt64 = 0
  func roundTrip() throws {
    message &+= 1
    guard write(connection, &message, 8) == 8, readFully(connection, &message) else {
      throw BenchError(message: "ping-pong: the child hung up")
    }
  }
  for _ in 0..<min(1_000, roundTrips) { try roundTrip() }
  let start = ContinuousClock.now
  for _ in 0..<roundTrips { try roundTrip() }
  let elapsed = seconds(ContinuousClock.now - start)
  return Double(2 * roundTrips) / elapsed
}

/// `flow-bench --pingpong-child PORT`: connects to the parent and echoes every message until
/// the parent closes the connection.
func runPingPongChild(_ arguments: [String]) -> Int32 {
  guard let text = arguments.first, let port = UInt16(text) else { return 2 }
  let connection = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  address.sin_port = port.bigEndian
  let connected = withUnsafePointer(to: &address) { pointer in
    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      connect(connection, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
    }
  }
  guard connected else { return 1 }
  noDelay(connection)
  var message: UInt64 = 0
  while readFully(connection, &message) {
    guard write(connection, &message, 8) == 8 else { break }
  }
  close(connection)
  return 0
}

private func noDelay(_ socket: Int32) {
  var on: Int32 = 1
  _ = setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
}

/// Reads exactly 8 bytes into `message`; false at end of stream or on an error.
private func readFully(_ socket: Int32, _ message: inout UInt64) -> Bool {
  var received = 0
  return withUnsafeMutableBytes(of: &message) { buffer in
    while received < 8 {
      let count = read(socket, buffer.baseAddress! + received, 8 - received)
      guard count > 0 else { return false }
      received += count
    }
    return true
  }
}
