import FlowCore
import Foundation
import HTTPTypes
import Hummingbird

/// Server-sent events: `event:`/`data:` frames on one long response.
enum ServerSentEvents {
  /// One event frame; `data` is JSON on one line.
  static func frame(event: String, data: String, id: String? = nil) -> ByteBuffer {
    var text = ""
    if let id { text += "id: \(id)\n" }
    text += "event: \(event)\ndata: \(data)\n\n"
    return ByteBuffer(string: text)
  }

  /// A comment that keeps the connection open through proxies.
  static let keepalive = ByteBuffer(string: ": keepalive\n\n")

  /// A streaming response whose body `write` produces.
  static func response(
    _ write: @escaping @Sendable (inout any ResponseBodyWriter) async throws -> Void
  ) -> Response {
    Response(
      status: .ok,
      headers: [
        .contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store",
        HTTPField.Name("X-Accel-Buffering")!: "no",
      ],
      body: ResponseBody { writer in
        do {
          try await write(&writer)
        } catch is CancellationError {
          // The server is stopping: end the stream quietly.
        }
        try await writer.finish(nil)
      })
  }

  /// Whether a stream that has written nothing for this long should send a keepalive.
  static let keepaliveInterval: TimeInterval = 5
}

/// The live stream of one run: its record when it changes, its transitions and its log
/// records as they are recorded; ends with `end` once the run is final and everything is sent.
struct RunStream: Sendable {
  /// How far the client has read: the last transition and log sequence it has.
  struct Position: Sendable, Equatable {
    var transitions: Int64
    var logs: Int64

    init(transitions: Int64, logs: Int64) {
      self.transitions = transitions
      self.logs = logs
    }

    /// The position a reconnecting `EventSource` names in `Last-Event-ID` (`T.L`).
    init?(lastEventID: String?) {
      guard let parts = lastEventID?.split(separator: "."), parts.count == 2,
        let transitions = Int64(parts[0]), let logs = Int64(parts[1])
      else { return nil }
      self.init(transitions: transitions, logs: logs)
    }

    var eventID: String { "\(transitions).\(logs)" }
  }

  let server: FlowServer
  let run: FlowRunRecord
  let position: Position
  /// Records per event at most (a long backlog arrives over several events).
  static let pageSize = 500

  func response() -> Response {
    ServerSentEvents.response { writer in try await stream(&writer) }
  }

  /// Whether `run` will change no more.
  static func isFinal(_ run: FlowRunRecord) -> Bool {
    run.endedAt != nil || run.state == "Crashed" || run.state == "Cancelled"
  }

  private func stream(_ writer: inout any ResponseBodyWriter) async throws {
    let store = server.store
    var position = self.position
    var previous: FlowRunRecord?
    var lastWrite = server.clock.now()
    while true {
      let snapshot = try await server.hub.run(run.id, from: position, store: store)
      guard let stored = snapshot.run else { return }
      let current = RunStoreReading.reported(stored, staleBefore: server.staleBefore)
      var frames: [ByteBuffer] = []
      // What the hub keeps comes from memory; a stream further behind reads its backlog.
      let transitions: [TransitionRecord]
      if let kept = snapshot.transitions(after: position.transitions, limit: Self.pageSize) {
        transitions = kept
      } else {
        transitions = try await store.transitions(
          flowRunID: run.id, after: position.transitions, limit: Self.pageSize)
      }
      let logs: [StoredLogRecord]
      if let kept = snapshot.logs(after: position.logs, limit: Self.pageSize) {
        logs = kept
      } else {
        logs = try await store.logs(
          flowRunID: run.id, after: position.logs, minimumLevel: .trace, limit: Self.pageSize)
      }
      if let last = transitions.last { position.transitions = last.sequence }
      if let last = logs.last { position.logs = last.sequence }
      if !transitions.isEmpty {
        frames.append(
          ServerSentEvents.frame(
            event: "transitions", data: ServerJSON.encode(transitions.map(TransitionJSON.init)),
            id: position.eventID))
      }
      if !logs.isEmpty {
        frames.append(
          ServerSentEvents.frame(
            event: "logs", data: ServerJSON.encode(logs.map(LogJSON.init)),
            id: position.eventID))
      }
      if current != previous {
        frames.append(
          ServerSentEvents.frame(event: "run", data: ServerJSON.encode(FlowRunJSON(current))))
        previous = current
      }
      let drained =
        snapshot.caughtUp && position.transitions >= snapshot.lastTransition
        && position.logs >= snapshot.lastLog
      if Self.isFinal(current), drained {
        frames.append(ServerSentEvents.frame(event: "end", data: "{}"))
        try await writer.write(contentsOf: frames)
        return
      }
      let now = server.clock.now()
      if frames.isEmpty, now.timeIntervalSince(lastWrite) >= ServerSentEvents.keepaliveInterval {
        frames.append(ServerSentEvents.keepalive)
      }
      if !frames.isEmpty {
        try await writer.write(contentsOf: frames)
        lastWrite = now
      }
      if drained { try await server.clock.sleep(for: server.configuration.pollInterval) }
    }
  }
}

/// The live stream of the run list: a `run` event for every run of the filter's first page
/// that is new or changed.
struct RunListStream: Sendable {
  let server: FlowServer
  let filter: RunListFilter

  func response() -> Response {
    ServerSentEvents.response { writer in try await stream(&writer) }
  }

  private func stream(_ writer: inout any ResponseBodyWriter) async throws {
    let key = LiveHub.RunListKey(
      flowName: filter.flowName, state: filter.state, limit: filter.limit)
    var seen: [UUID: FlowRunRecord] = [:]
    var lastWrite = server.clock.now()
    while true {
      let page = try await server.hub.runList(
        key, staleBefore: { [server] in server.staleBefore }, store: server.store)
      var frames: [ByteBuffer] = []
      for run in page.reversed() where seen[run.id] != run {
        frames.append(
          ServerSentEvents.frame(event: "run", data: ServerJSON.encode(FlowRunJSON(run))))
      }
      seen = Dictionary(page.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
      let now = server.clock.now()
      if frames.isEmpty, now.timeIntervalSince(lastWrite) >= ServerSentEvents.keepaliveInterval {
        frames.append(ServerSentEvents.keepalive)
      }
      if !frames.isEmpty {
        try await writer.write(contentsOf: frames)
        lastWrite = now
      }
      try await server.clock.sleep(for: server.configuration.pollInterval)
    }
  }
}
