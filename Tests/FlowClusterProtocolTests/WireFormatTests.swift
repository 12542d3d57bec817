import Foundation
import Testing

@testable import FlowClusterProtocol

@Suite struct WireFormatTests {
  static let samples: [ClusterMessage] = [
    .hello(
      ClusterHello(
        workerName: "host:1", capacity: 4, resources: ["GPU": 2, "mem": 0.5], token: "s3cret",
        flows: ["a", "b"])),
    .welcome(workerID: 7, heartbeatMilliseconds: 250),
    .refused(reason: "wrong token"),
    .assign([
      ClusterAssignment(
        taskID: 1, flow: "f", task: "t", attempt: 2, mapIndex: 3, inputs: [[1, 2], []]),
      ClusterAssignment(taskID: 1 << 40, flow: "flow ü", task: "t-2"),
      ClusterAssignment(
        taskID: 2, flow: "f", task: "t", run: 300,
        taskRunID: UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F")),
      // Version 5: conditional starts, after attempt 2 (and after attempt 0, a valid ID).
      ClusterAssignment(taskID: 3, flow: "f", task: "next", run: 300, after: 2),
      ClusterAssignment(taskID: 4, flow: "f", task: "next", after: 0),
    ]),
    .runContext(
      ClusterRunContext(
        run: 300, flowRunID: UUID(uuidString: "A621E1F8-C36C-495A-93FC-0C247A3E6E5F")!,
        scheduledStartTime: 1_700_000_000.5, parameters: ["count": "30", "name": "\"x\""])),
    .runContext(
      ClusterRunContext(
        run: 1, flowRunID: UUID(uuidString: "B621E1F8-C36C-495A-93FC-0C247A3E6E5F")!)),
    .results([
      ClusterTaskResult(taskID: 9, outcome: .success([0xFF, 0])),
      ClusterTaskResult(
        taskID: 10, outcome: .failure(code: "taskFailed", message: "boom"),
        logs: [
          ClusterLogRecord(
            time: 1_700_000_000.25, level: "info", message: "hi", metadata: ["k": "v"])
        ]),
    ]),
    .results([
      ClusterTaskResult(
        taskID: 12, outcome: .failure(code: "taskFailed", message: "quota"),
        error: ClusterErrorInfo(typeName: "App.QuotaExceeded", payload: Array(#"{"limit":7}"#.utf8))
      ),
      ClusterTaskResult(
        taskID: 13, outcome: .failure(code: "taskFailed", message: "plain"),
        error: ClusterErrorInfo(typeName: "App.Plain")),
    ]),
    .heartbeat(running: 3), .cancel([1, 2]), .drain, .draining, .handBack([5]),
    .goodbye(reason: "bye"), .heartbeat(running: -1), .outputPart(11, [1, 2, 3]),
  ]

  @Test func everyMessageRoundTrips() throws {
    for message in Self.samples {
      let frame = ClusterWireFormat.encodeFrame([message])
      var decoder = ClusterFrameDecoder()
      decoder.append(frame)
      #expect(try decoder.next() == [message])
      #expect(try decoder.next() == nil)
    }
  }

  @Test func severalMessagesInOneFrameAndFramesSplitAnywhere() throws {
    let frames =
      ClusterWireFormat.encodeFrame(Self.samples) + ClusterWireFormat.encodeFrame([.drain])
    for chunk in [1, 3, 7, 64] {
      var decoder = ClusterFrameDecoder()
      var decoded: [[ClusterMessage]] = []
      var start = 0
      while start < frames.count {
        decoder.append(frames[start..<min(frames.count, start + chunk)])
        start += chunk
        while let messages = try decoder.next() { decoded.append(messages) }
      }
      #expect(decoded == [Self.samples, [.drain]])
      try decoder.finish()
    }
  }

  @Test func oversizedFrameIsRejectedBeforeItsBodyArrives() {
    var decoder = ClusterFrameDecoder(maxFrameSize: 1024)
    decoder.append([0, 0, 0x10, 0x01])  // 4097 bytes announced, none sent
    #expect(throws: ClusterProtocolError.self) { try decoder.next() }
    do {
      _ = try decoder.next()
    } catch {
      #expect(error.code == .oversizedFrame)
      #expect(error.message.contains("4097"))
    }
  }

  @Test(arguments: [
    ([0, 0, 0, 3, 0x47, 0x45, 0x54] as [UInt8], "magic"),  // "GET"
    ([0, 0, 0, 4, 0x53, 0x46, 1, 99], "unknown message type 99"),
    ([0, 0, 0, 4, 0x53, 0x46, 0, 8], "claims 0 messages"),
    ([0, 0, 0, 5, 0x53, 0x46, 1, 8, 8], "stray bytes"),
    ([0, 0, 0, 5, 0x53, 0x46, 1, 3, 9], "exceeds the frame"),
    ([0, 0, 0, 6, 0x53, 0x46, 1, 3, 1, 0xFF], "not valid UTF-8"),
  ])
  func malformedFramesAreRejectedWithAReason(bytes: [UInt8], reason: String) {
    var decoder = ClusterFrameDecoder()
    decoder.append(bytes)
    do {
      _ = try decoder.next()
      Issue.record("accepted a malformed frame")
    } catch {
      #expect(error.code == .malformedFrame)
      #expect(error.message.contains(reason), "\(error.message)")
    }
  }

  @Test func aStreamThatEndsInsideAFrameIsTruncated() throws {
    var decoder = ClusterFrameDecoder()
    decoder.append(ClusterWireFormat.encodeFrame([.drain]).dropLast())
    #expect(try decoder.next() == nil)
    #expect(throws: ClusterProtocolError.self) { try decoder.finish() }
  }

  @Test func hotMessagesAreCompact() {
    let assignments = (0..<100).map {
      ClusterAssignment(taskID: ClusterTaskID($0), flow: "demo", task: "work")
    }
    // About 16 bytes per no-op assignment (17 more with its task run's ID), 3 per no-op
    // result; a run's context travels once per worker, not with each assignment.
    #expect(ClusterWireFormat.encodeFrame([.assign(assignments)]).count < 100 * 18)
    let identified = assignments.map {
      var assignment = $0
      assignment.run = 1
      assignment.taskRunID = UUID(uuid: (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16))
      return assignment
    }
    #expect(ClusterWireFormat.encodeFrame([.assign(identified)]).count < 100 * 35)
    let results = (0..<100).map {
      ClusterTaskResult(taskID: ClusterTaskID($0), outcome: .success([]))
    }
    #expect(ClusterWireFormat.encodeFrame([.results(results)]).count < 100 * 6)
  }
}
