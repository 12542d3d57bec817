import FlowCore
import FlowExecutors
import FlowTesting
import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import TicketModel

// `Resources/incident_event_log_first1000.csv` is the header and first 1,000 rows of the UCI
// incident event log (Amaral, Fantinato & Peres (2018), https://doi.org/10.24432/C57S4H,
// CC BY 4.0), unchanged; see the sample's `Resources/LICENSE-DATA.md`.

/// Expected values computed once, independently, by
/// `python3 Samples/TicketModelEvaluation/Tools/reference_metrics.py FILE.csv` (numpy 2.4.6),
/// over every row in file order.
struct Reference {
  let numObs: Int
  let metrics: [String: Double]
  let target: [String: Double]

  /// On `incident_event_log_first1000.csv`.
  static let first1000 = Reference(
    numObs: 1000,
    metrics: [
      "MAE": 647582.22, "MedAE": 325560.0, "MSE": 3302696737083.6, "R2": -0.029225332242740043,
    ],
    target: ["mean": 934672.74, "median": 516930.0, "min": 0.0, "max": 25835400.0])

  /// On the whole `incident_event_log.csv` (141,712 rows).
  static let all = Reference(
    numObs: 141_712,
    metrics: [
      "MAE": 646114.7343908773, "MedAE": 360720.0, "MSE": 3075188866566.6763,
      "R2": -0.08179024594300022,
    ],
    target: [
      "mean": 910731.884385232, "median": 450840.0, "min": 0.0, "max": 29486100.0,
    ])

  func check(_ summary: TrialSummary) {
    #expect(summary.numObs == numObs)
    for (name, value) in metrics {
      let actual = summary.metrics[name] ?? .nan
      #expect(abs(actual - value) <= 1e-9 * max(1, abs(value)), "\(name): \(actual) vs \(value)")
    }
    for (name, value) in target {
      let actual = summary.target[name] ?? .nan
      #expect(abs(actual - value) <= 1e-9 * max(1, abs(value)), "target \(name)")
    }
  }
}

func fixtureURL() throws -> URL {
  try #require(
    Bundle.module.url(forResource: "incident_event_log_first1000", withExtension: "csv"))
}

func summary(of result: FlowRunResult) throws -> TrialSummary {
  let run = try #require(result.taskRun("get_trial_summary"))
  return try #require(run.state.value(as: TrialSummary.self), "\(result.summary)")
}

@Suite("ticket-model-evaluation")
struct TicketModelTests {
  @Test("metrics match scikit-learn's definitions on its documented example")
  func sklearnExample() {
    // scikit-learn's docstring examples: y_true = [3, -0.5, 2, 7], y_pred = [2.5, 0.0, 2, 8].
    let actual = [3, -0.5, 2, 7]
    let predicted = [2.5, 0.0, 2, 8]
    #expect(Metrics.meanAbsoluteError(actual, predicted) == 0.5)
    #expect(Metrics.medianAbsoluteError(actual, predicted) == 0.5)  // mean of 0.5 and 0.5
    #expect(Metrics.meanSquaredError(actual, predicted) == 0.375)
    #expect(abs(Metrics.r2(actual, predicted) - 0.9486081370449679) < 1e-15)
    #expect(Metrics.median([4, 1, 3, 2]) == 2.5)
    #expect(Metrics.median([5, 1, 3]) == 3)
    #expect(Metrics.r2([2, 2], [2, 2]) == 1)
    #expect(Metrics.r2([2, 2], [1, 2]) == 0)
  }

  @Test("dates are d/m/yyyy H:MM, unpadded; '?' is missing; a bad date names its line")
  func dates() throws {
    let csv = """
      number,priority,sys_updated_at,closed_at
      A,1 - Critical,29/2/2016 01:16,1/3/2016 01:16
      B,4 - Low,?,5/3/2016 12:00
      C,4 - Lower,31/12/2016 23:59,1/1/2017 0:01

      """
    let table = try TicketData.parse(csv: Array(csv.utf8))
    #expect(table.targets == [86_400, 120])
    #expect(table.priorities == [1, 0])
    #expect(TicketModel.predictedSeconds(priority: 4) == 240 * 3600)
    #expect(TicketModel.predictedSeconds(priority: 0) == 180 * 3600)
    let bad = "priority,sys_updated_at,closed_at\n2 - High,31/13/2016 01:00,1/1/2017 00:00\n"
    #expect {
      try TicketData.parse(csv: Array(bad.utf8))
    } throws: { error in
      "\(error)".contains("line 2: '31/13/2016 01:00' is not a date")
    }
    #expect {
      try TicketData.parse(csv: Array("a,b\n1,2\n".utf8))
    } throws: { error in
      "\(error)".contains("has no 'priority' column")
    }
  }

  @Test("`all` evaluates every row in file order, matching numpy")
  func allRowsOfTheFixture() async throws {
    let result = try await TicketModel.flow().run(
      parameters: ["batch-size": BatchSize.all, "data-url": try fixtureURL().path as String?],
      environment: .testing(seed: 1))
    #expect(result.state.isSuccessful, "\(result.summary)")
    Reference.first1000.check(try summary(of: result))
    let line = try #require(result.taskRun("write_trial_summary")?.state.value(as: String.self))
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    let data = try #require(object["data"] as? [String: Any])
    #expect(object["id"] is String)
    #expect(data["num_obs"] as? Int == 1000)
    #expect(
      Set((data["metrics"] as? [String: Double])?.keys ?? [:].keys) == [
        "MAE", "MedAE", "MSE", "R2",
      ])
    #expect(
      Set((data["target"] as? [String: Double])?.keys ?? [:].keys) == [
        "mean", "median", "min", "max",
      ])
  }

  @Test("the bundled zip holds all 141,712 rows, and their metrics match numpy")
  func bundledArchive() async throws {
    // A second or two of CPU in a debug build: done on a thread of its own, so that it never
    // holds one of the (few) threads that the other tests' tasks need.
    let summary = try await onOwnThread {
      let archive = try #require(TicketData.bundledArchive)
      let bytes = try TicketData.unzipIfNeeded(
        [UInt8](try Data(contentsOf: archive)), source: archive.path)
      let table = try TicketData.parse(csv: bytes)
      #expect(table.count == 141_712)
      let actual = table.targets
      let predicted = table.priorities.map { TicketModel.predictedSeconds(priority: $0) }
      return TicketModel.summary(
        id: "x", actual: actual, mae: Metrics.meanAbsoluteError(actual, predicted),
        medae: Metrics.medianAbsoluteError(actual, predicted),
        mse: Metrics.meanSquaredError(actual, predicted), r2: Metrics.r2(actual, predicted))
    }
    Reference.all.check(summary)
  }

  @Test("batch-size draws that many rows with replacement; a seed makes the draw repeatable")
  func sampling() async throws {
    let flow = TicketModel.flow()
    let path: String? = try fixtureURL().path
    func run(_ size: Int, seed: Int?, environment: UInt64) async throws -> TrialSummary {
      try summary(
        of: try await flow.run(
          parameters: ["batch-size": BatchSize.rows(size), "sample-seed": seed, "data-url": path],
          environment: .testing(seed: environment)))
    }
    let first = try await run(250, seed: 42, environment: 1)
    let again = try await run(250, seed: 42, environment: 2)
    let other = try await run(250, seed: 43, environment: 1)
    #expect(first.numObs == 250)
    #expect(first.metrics == again.metrics)
    #expect(first.metrics != other.metrics)
    // Without a seed, the run's random source decides: same environment seed, same rows.
    let fromRun = try await run(250, seed: nil, environment: 9)
    let fromRunAgain = try await run(250, seed: nil, environment: 9)
    #expect(fromRun.metrics == fromRunAgain.metrics)
    // With replacement: 5,000 draws from 1,000 rows.
    #expect(try await run(5000, seed: 1, environment: 1).numObs == 5000)
  }

  @Test("batch-size reads a positive integer or `all` from the command line")
  func batchSizeParameter() throws {
    let spec = try #require(TicketModel.flow().parameters.first { $0.name == "batch-size" })
    #expect(spec.typeName == "BatchSize")
    #expect(spec.defaultJSON == "1000")
    #expect(try spec.parse("all") as? BatchSize == .all)
    #expect(try spec.parse("500") as? BatchSize == .rows(500))
    // Beyond the row limit (issue 14: Int.max rows crashed the sample): a usage error.
    for bad in ["abc", "0", "-3", "1.5", "ALL", "9223372036854775807", "10000001"] {
      #expect(throws: ParameterValueError.self) { try spec.parse(bad) }
    }
  }

  @Test("the stored parameter schema checks batch-size and sample-seed without the sample's code")
  func parameterSchema() throws {
    let schema = try ParameterSchema(json: TicketModel.flow().parameterSchemaJSON)
    let good = ["batch-size": "\"all\"", "sample-seed": "null", "data-url": "\"/tmp/x.zip\""]
    #expect(schema.problems(in: good).isEmpty)
    #expect(schema.problems(in: ["batch-size": "500", "sample-seed": "7"]).isEmpty)
    // The same values the command line refuses (`batchSizeParameter`) are refused here too.
    for bad in ["\"abc\"", "0", "-3", "1.5", "\"ALL\"", "9223372036854775807", "10000001"] {
      let problems = schema.problems(in: ["batch-size": bad])
      #expect(problems.map(\.parameter) == ["batch-size"], "\(bad)")
    }
    #expect(schema.problems(in: ["sample-seed": "\"seven\""]).map(\.parameter) == ["sample-seed"])
  }

  @Test("data-url downloads over HTTP from a local server", .timeLimit(.minutes(1)))
  func download() async throws {
    let server = try LocalHTTPServer(directory: try fixtureURL().deletingLastPathComponent())
    defer { server.stop() }
    let url = "http://127.0.0.1:\(server.port)/incident_event_log_first1000.csv"
    let result = try await TicketModel.flow().run(
      parameters: ["batch-size": BatchSize.all, "data-url": url as String?],
      environment: .testing(seed: 3))
    #expect(result.state.isSuccessful, "\(result.summary)")
    Reference.first1000.check(try summary(of: result))
    let missing = try await TicketModel.flow().run(
      parameters: ["data-url": "http://127.0.0.1:\(server.port)/nothing.csv" as String?],
      environment: .testing(seed: 3))
    #expect(missing.state.isFailed)
    let state = try #require(missing.taskRun("get_ticket_data_batch")?.state)
    #expect("\(state)".contains("answered HTTP 404"))
    #expect(missing.taskRun("get_ticket_data_batch")?.attempts == 1)  // a 404 is not retried
  }
}

/// Runs `body` on a new thread and returns its result.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
  try await withCheckedThrowingContinuation { continuation in
    Thread { continuation.resume(with: Result { try body() }) }.start()
  }
}

/// An HTTP/1.1 server in this process on a free loopback port, serving the files of
/// `directory` (GET only; 404 for anything else). In-process, so no server outlives the tests.
final class LocalHTTPServer: Sendable {
  let port: Int
  private let group: MultiThreadedEventLoopGroup
  private let channel: any Channel

  init(directory: URL) throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    do {
      channel = try ServerBootstrap(group: group)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
          channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(FileRequestHandler(directory: directory))
          }
        }
        .bind(host: "127.0.0.1", port: 0).wait()
    } catch {
      try? group.syncShutdownGracefully()
      throw error
    }
    self.group = group
    port = channel.localAddress?.port ?? 0
  }

  /// Stops listening and shuts the server's thread down.
  func stop() {
    try? channel.close().wait()
    try? group.syncShutdownGracefully()
  }
}

/// Answers one request per connection with the file it names, then closes.
private final class FileRequestHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer
  let directory: URL
  private var request: [UInt8] = []

  init(directory: URL) { self.directory = directory }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    var buffer = unwrapInboundIn(data)
    request += buffer.readBytes(length: buffer.readableBytes) ?? []
    let text = String(decoding: request, as: UTF8.self)
    guard text.contains("\r\n\r\n") || request.count > 16_384 else { return }
    let words = text.split(separator: " ", maxSplits: 2)
    var status = "404 Not Found"
    var body = Data("not found\n".utf8)
    if words.count >= 2, words[0] == "GET", !words[1].contains(".."),
      let data = try? Data(
        contentsOf: directory.appendingPathComponent(String(words[1].dropFirst())))
    {
      status = "200 OK"
      body = data
    }
    let head =
      "HTTP/1.1 \(status)\r\nContent-Length: \(body.count)\r\nContent-Type: text/plain\r\n"
      + "Connection: close\r\n\r\n"
    var response = context.channel.allocator.buffer(capacity: head.utf8.count + body.count)
    response.writeString(head)
    response.writeBytes(body)
    let channel = context.channel
    context.writeAndFlush(wrapOutboundOut(response)).whenComplete { _ in
      channel.close(promise: nil)
    }
    request.removeAll()
  }
}
