import Foundation
import Testing

/// A long-running child process (the server, chromedriver) whose standard error is read line
/// by line; `stop()` terminates it and waits for it to exit.
final class ChildProcess: @unchecked Sendable {
  // @unchecked: `lines` and `waiters` are only touched under `lock`.
  private let process = Process()
  private let lock = NSLock()
  private var lines: [String] = []
  let name: String

  init(
    _ executable: URL, _ arguments: [String], environment: [String: String] = [:],
    in directory: URL? = nil
  ) throws {
    name = executable.lastPathComponent
    process.executableURL = executable
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = directory }
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let err = Pipe()
    process.standardError = err
    process.standardOutput = err
    try process.run()
    let handle = err.fileHandleForReading
    Thread { [self] in
      var buffer = Data()
      while true {
        let chunk = handle.availableData
        if chunk.isEmpty { break }
        buffer.append(chunk)
        while let newline = buffer.firstIndex(of: 10) {
          let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
          buffer.removeSubrange(buffer.startIndex...newline)
          lock.lock()
          lines.append(line)
          lock.unlock()
        }
      }
    }.start()
  }

  /// Everything it printed so far.
  var output: String {
    lock.lock()
    defer { lock.unlock() }
    return lines.joined(separator: "\n")
  }

  private func line(containing text: String) -> String? {
    lock.lock()
    defer { lock.unlock() }
    return lines.first { $0.contains(text) }
  }

  /// Waits (up to `timeout`) for a line containing `text` and returns it.
  func waitForLine(containing text: String, timeout: Duration = .seconds(30)) async throws
    -> String
  {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
      if let found = line(containing: text) { return found }
      if !process.isRunning {
        throw BrowserTestError("\(name) exited (\(process.terminationStatus)): \(output)")
      }
      try await Task.sleep(for: .milliseconds(50))
    }
    throw BrowserTestError("\(name) printed no line with '\(text)' in \(timeout): \(output)")
  }

  /// Terminates the process and waits for it (killing it after 5 s).
  func stop() {
    guard process.isRunning else { return }
    process.terminate()
    let deadline = Date().addingTimeInterval(5)
    while process.isRunning, Date() < deadline { usleep(20_000) }
    if process.isRunning {
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
  }
}

struct BrowserTestError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// The headless Chromium the browser tests drive, found on PATH (Debian's `chromium` and
/// `chromium-driver`), or nil with the reason.
enum BrowserTools {
  static func find(_ name: String) -> URL? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") {
      let url = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
      if FileManager.default.isExecutableFile(atPath: url.path) { return url }
    }
    return nil
  }

  static let chromium = find("chromium") ?? find("chromium-browser")
  static let chromedriver = find("chromedriver")

  /// Whether the browser suites can run; prints one line when they cannot.
  static let available: Bool = {
    guard chromium != nil, chromedriver != nil else {
      print(
        "Skipped: the browser suite (server UI in headless Chromium); install Debian's chromium "
          + "and chromium-driver (`apt-get install chromium chromium-driver`) or run "
          + "`bash .ci/run`, which installs them")
      return false
    }
    return true
  }()

  /// A free loopback TCP port (bound and released).
  static func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
      }
    }
    guard bound else { throw BrowserTestError("cannot bind a loopback port") }
    return Int(UInt16(bigEndian: address.sin_port))
  }
}

/// A minimal HTTP/1.1 client for chromedriver on loopback. FoundationNetworking's URLSession
/// cannot read chromedriver's answers: its headers have no space after the colon
/// (`Content-Length:791`), which URLSession's parser rejects ("Failed writing header").
enum LoopbackHTTP {
  /// Sends one request on a new connection (on a thread of its own: the socket calls block)
  /// and returns the response's body.
  static func send(method: String, url: URL, body: Data?) async throws -> Data {
    try await withCheckedThrowingContinuation { continuation in
      Thread {
        continuation.resume(with: Result { try exchange(method: method, url: url, body: body) })
      }.start()
    }
  }

  private static func exchange(method: String, url: URL, body: Data?) throws -> Data {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BrowserTestError("socket() failed") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 90, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(url.port ?? 80).bigEndian
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
      }
    }
    guard connected else { throw BrowserTestError("cannot connect to \(url)") }
    var request = "\(method) \(url.path) HTTP/1.1\r\nHost: localhost:\(url.port ?? 80)\r\n"
    request += "Connection: close\r\n"
    if let body {
      request += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n"
    }
    var bytes = Data((request + "\r\n").utf8)
    if let body { bytes.append(body) }
    try bytes.withUnsafeBytes { buffer in
      var offset = 0
      while offset < buffer.count {
        let sent = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
        guard sent > 0 else { throw BrowserTestError("writing to \(url) failed") }
        offset += sent
      }
    }
    var response = Data()
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
      let count = read(fd, &chunk, chunk.count)
      if count <= 0 { break }
      response.append(contentsOf: chunk[0..<count])
      if let complete = completeBody(of: response) { return complete }
    }
    guard let complete = completeBody(of: response) else {
      throw BrowserTestError(
        "incomplete answer from \(url): \(String(decoding: response, as: UTF8.self))")
    }
    return complete
  }

  /// The body once `response` holds all of it (by Content-Length), else nil.
  private static func completeBody(of response: Data) -> Data? {
    guard let end = response.firstRange(of: Data("\r\n\r\n".utf8)) else { return nil }
    let head = String(decoding: response[..<end.lowerBound], as: UTF8.self)
    let body = response[end.upperBound...]
    for line in head.split(separator: "\r\n") {
      let parts = line.split(separator: ":", maxSplits: 1)
      if parts.count == 2, parts[0].lowercased() == "content-length",
        let length = Int(parts[1].trimmingCharacters(in: .whitespaces))
      {
        return body.count >= length ? Data(body.prefix(length)) : nil
      }
    }
    return nil
  }
}

/// A WebDriver session with chromedriver over its JSON REST API.
struct WebDriver: Sendable {
  let base: URL
  let session: String

  /// Starts a headless Chromium session on the chromedriver at `base`.
  static func start(base: URL, chromium: URL) async throws -> WebDriver {
    let capabilities: [String: Any] = [
      "capabilities": [
        "alwaysMatch": [
          "browserName": "chrome",
          "goog:chromeOptions": [
            "binary": chromium.path,
            "args": [
              "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,1000", "--no-first-run", "--disable-extensions",
            ],
          ],
        ]
      ]
    ]
    let answer = try await request(base.appendingPathComponent("session"), "POST", capabilities)
    guard let value = answer["value"] as? [String: Any], let id = value["sessionId"] as? String
    else { throw BrowserTestError("chromedriver started no session: \(answer)") }
    return WebDriver(base: base, session: id)
  }

  private static func request(_ url: URL, _ method: String, _ body: [String: Any]?) async throws
    -> [String: Any]
  {
    let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) }
    let data = try await LoopbackHTTP.send(method: method, url: url, body: payload)
    return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
  }

  private func call(_ path: String, _ method: String = "POST", _ body: [String: Any]? = [:])
    async throws -> Any?
  {
    let url = base.appendingPathComponent("session/\(session)/\(path)")
    let answer = try await Self.request(url, method, method == "GET" ? nil : body)
    if let value = answer["value"] as? [String: Any], let error = value["error"] as? String {
      throw BrowserTestError("WebDriver \(path): \(error): \(value["message"] ?? "")")
    }
    return answer["value"]
  }

  func open(_ url: String) async throws { _ = try await call("url", "POST", ["url": url]) }

  func currentURL() async throws -> String { try await call("url", "GET") as? String ?? "" }

  /// Runs `script` (a function body) in the page and returns its value.
  @discardableResult
  func execute(_ script: String, _ arguments: [Any] = []) async throws -> Any? {
    try await call("execute/sync", "POST", ["script": script, "args": arguments])
  }

  /// Clicks the first element matching `selector`.
  func click(_ selector: String) async throws {
    let element =
      try await call(
        "element", "POST", ["using": "css selector", "value": selector]) as? [String: Any]
    guard let id = element?.values.first as? String else {
      throw BrowserTestError("no element matches \(selector)")
    }
    _ = try await call("element/\(id)/click", "POST", [:])
  }

  /// The text of the open alert, or nil when there is none.
  func alertText() async -> String? {
    try? await call("alert/text", "GET") as? String
  }

  /// Saves a PNG of the window to `file`.
  func screenshot(to file: URL) async throws {
    guard let base64 = try await call("screenshot", "GET") as? String,
      let data = Data(base64Encoded: base64)
    else { throw BrowserTestError("no screenshot") }
    try data.write(to: file)
  }

  /// Polls `script` until it returns true (or `timeout` passes); returns how long it took.
  @discardableResult
  func waitUntil(_ script: String, timeout: Duration = .seconds(20)) async throws -> Duration {
    let clock = ContinuousClock()
    let start = clock.now
    while clock.now - start < timeout {
      if try await execute(script) as? Bool == true { return clock.now - start }
      try await Task.sleep(for: .milliseconds(20))
    }
    let page =
      (try? await execute("return location.href + ' ' + document.body.textContent.slice(0, 600)"))
      as? String ?? ""
    throw BrowserTestError("timed out waiting for: \(script) (page: \(page))")
  }

  func quit() async {
    _ = try? await Self.request(base.appendingPathComponent("session/\(session)"), "DELETE", nil)
  }
}
