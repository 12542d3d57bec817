import Testing

@testable import FlowClusterProtocol

/// A seeded generator (SplitMix64) for the random frames; same seed, same frames.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// Random and mutated frames against the frame decoder, the handshake decoder and the
/// scheduler's machine: no crash, no call that stalls its thread (a decode that grows faster
/// than its input takes seconds here; a healthy one takes under 10 ms, so the 1 s limit
/// catches the stall without failing on a machine busy with other work), and no buffer
/// beyond its bound. Rerun one seed with `swift test --filter "FrameFuzzTests"`; a failure
/// names its seed and iteration.
@Suite(.timeLimit(.minutes(2))) struct FrameFuzzTests {
  static let stallLimit = Duration.seconds(1)
  static let maxFrameSize = 1 << 20

  /// Runs `body`; when it takes longer than the stall limit, runs it twice more and returns
  /// the shortest of the three (a machine busy with other work should not fail the test).
  static func timed(_ body: () -> Void) -> Duration {
    let clock = ContinuousClock()
    var best = Duration.seconds(3600)
    for _ in 0..<3 {
      let elapsed = clock.measure(body)
      best = min(best, elapsed)
      if best <= stallLimit { break }
    }
    return best
  }

  static func randomFrame(_ random: inout SplitMix64) -> [UInt8] {
    let sample = WireFormatTests.samples.randomElement(using: &random)!
    var frame = ClusterWireFormat.encodeFrame(
      (0..<Int.random(in: 1...3, using: &random)).map { _ in
        WireFormatTests.samples.randomElement(using: &random) ?? sample
      })
    switch Int.random(in: 0..<6, using: &random) {
    case 0:  // Pure noise, sometimes with a plausible prefix.
      frame = (0..<Int.random(in: 0..<512, using: &random)).map { _ in
        UInt8.random(in: 0...255, using: &random)
      }
      if Bool.random(using: &random), frame.count >= 4 {
        let length = UInt32(frame.count - 4)
        frame[0] = UInt8(length >> 24)
        frame[1] = UInt8(truncatingIfNeeded: length >> 16)
        frame[2] = UInt8(truncatingIfNeeded: length >> 8)
        frame[3] = UInt8(truncatingIfNeeded: length)
      }
    case 1:  // Flip bytes in a valid frame (the prefix included).
      for _ in 0..<Int.random(in: 1...8, using: &random) where !frame.isEmpty {
        frame[Int.random(in: 0..<frame.count, using: &random)] = UInt8.random(
          in: 0...255, using: &random)
      }
    case 2:  // A huge varint where a count or length goes.
      let at = Int.random(in: 6..<max(7, frame.count), using: &random)
      frame.insert(
        contentsOf: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        at: min(at, frame.count))
    case 3:  // Truncated.
      frame = Array(frame.prefix(Int.random(in: 0..<frame.count, using: &random)))
    case 4:  // A length prefix far beyond the limit.
      frame[0] = UInt8.random(in: 0x01...0xFF, using: &random)
    default:  // Valid.
      break
    }
    return frame
  }

  @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
  func randomFramesNeverCrashStallOrOverBuffer(seed: UInt64) throws {
    var random = SplitMix64(seed: seed)
    var machine = ClusterSchedulerStateMachine(configuration: .init(token: "t"))
    for iteration in 0..<2000 {
      let stream = (0..<Int.random(in: 1...4, using: &random)).flatMap { _ in
        Self.randomFrame(&random)
      }
      var decoder = ClusterFrameDecoder(maxFrameSize: Self.maxFrameSize)
      var start = 0
      let connection = ConnectionID(UInt64(iteration + 1))
      _ = machine.handle(.connectionOpened(connection))
      var failed = false
      while start < stream.count, !failed {
        let end = min(stream.count, start + Int.random(in: 1...700, using: &random))
        let chunk = stream[start..<end]
        start = end
        let elapsed = Self.timed {
          var copy = decoder
          copy.append(chunk)
          while true {
            do {
              guard let messages = try copy.next() else { break }
              _ = machine.handle(.messagesReceived(connection, messages))
            } catch {
              failed = true
              break
            }
          }
          decoder = copy
        }
        #expect(
          elapsed <= Self.stallLimit,
          "seed \(seed) iteration \(iteration): decoding took \(elapsed)")
        #expect(
          decoder.bufferedByteCount <= Self.maxFrameSize + ClusterWireFormat.prefixSize + 700,
          "seed \(seed) iteration \(iteration): \(decoder.bufferedByteCount) bytes buffered")
      }
      _ = machine.handle(.connectionClosed(connection))
      // The same bytes as a connection's first frame.
      if stream.count >= 4 {
        let body = Array(stream.dropFirst(4).prefix(ClusterWireFormat.maxHandshakeFrameSize))
        let elapsed = Self.timed { _ = try? ClusterWireFormat.decodeHandshake(body, token: "t") }
        #expect(elapsed <= Self.stallLimit, "seed \(seed) iteration \(iteration): \(elapsed)")
      }
    }
    #expect(machine.workers.isEmpty, "seed \(seed): random bytes joined as a worker")
  }

  /// The worst hello that fits the handshake limit: every byte an empty flow name.
  static func floodHello(token: String) -> [UInt8] {
    let hello = ClusterWireFormat.encodeFrame([
      .hello(ClusterHello(workerName: "w", capacity: 1, token: token, flows: []))
    ])
    var body = Array(hello.dropFirst(4).dropLast())  // without the flow count (0)
    let room = ClusterWireFormat.maxHandshakeFrameSize - body.count - 3
    var count = UInt64(room)
    while count >= 0x80 {
      body.append(UInt8(truncatingIfNeeded: count) | 0x80)
      count >>= 7
    }
    body.append(UInt8(count))
    body.append(contentsOf: repeatElement(0, count: room))
    return body
  }

  @Test func aFloodedHelloWithAWrongTokenIsRefusedUnread() throws {
    let body = Self.floodHello(token: "wrong")
    #expect(body.count <= ClusterWireFormat.maxHandshakeFrameSize)
    var result: (hello: ClusterHello, accepted: Bool)?
    let elapsed = Self.timed {
      result = try? ClusterWireFormat.decodeHandshake(body, token: "right")
    }
    let decoded = try #require(result)
    #expect(!decoded.accepted)
    #expect(decoded.hello.flows.isEmpty, "the rest of a hello with a wrong token was decoded")
    #expect(elapsed <= Self.stallLimit, "\(elapsed)")
  }

  @Test func aFloodedHelloWithTheRightTokenDecodesQuickly() throws {
    let body = Self.floodHello(token: "right")
    var result: (hello: ClusterHello, accepted: Bool)?
    let elapsed = Self.timed {
      result = try? ClusterWireFormat.decodeHandshake(body, token: "right")
    }
    let decoded = try #require(result)
    #expect(decoded.accepted)
    #expect(decoded.hello.flows.count > 60_000)
    #expect(elapsed <= Self.stallLimit, "\(elapsed)")
  }

  @Test func aFirstFrameOtherThanOneHelloIsRefused() {
    for messages: [ClusterMessage] in [[.drain], [.drain, .drain], [.heartbeat(running: 1)]] {
      let body = Array(ClusterWireFormat.encodeFrame(messages).dropFirst(4))
      #expect(throws: ClusterProtocolError.self) {
        try ClusterWireFormat.decodeHandshake(body, token: nil)
      }
    }
    let big = [UInt8](repeating: 8, count: ClusterWireFormat.maxHandshakeFrameSize + 1)
    do {
      _ = try ClusterWireFormat.decodeHandshake(big, token: nil)
      Issue.record("accepted an oversized first frame")
    } catch {
      #expect(error.code == .oversizedFrame)
    }
  }

  @Test func aHelloOfAnotherVersionIsNotDecodedFurther() throws {
    var hello = ClusterHello(workerName: "w", capacity: 1, token: "t", flows: ["f"])
    hello.protocolVersion = ClusterProtocol.version + 1
    let body = Array(ClusterWireFormat.encodeFrame([.hello(hello)]).dropFirst(4))
    let decoded = try ClusterWireFormat.decodeHandshake(body, token: "t")
    #expect(!decoded.accepted)
    #expect(decoded.hello.protocolVersion == ClusterProtocol.version + 1)
    #expect(decoded.hello.flows.isEmpty)
  }
}

@Suite struct AdmissionStateMachineTests {
  @Test func failedHandshakesThrottleThePeerUntilTheyAgeOut() {
    var machine = ClusterAdmissionStateMachine(
      configuration: .init(maxFailedHandshakesPerPeer: 3, failureWindow: .seconds(10)))
    for id in 1...3 {
      #expect(
        machine.handle(.opened(ConnectionID(UInt64(id)), peer: "10.0.0.9")) == [
          .admit(ConnectionID(UInt64(id)))
        ])
      #expect(
        machine.handle(.closed(ConnectionID(UInt64(id)))) == [
          .forgetFailure(peer: "10.0.0.9", after: .seconds(10))
        ])
    }
    guard
      case .refuse(_, let peer, let reason, let log) = machine.handle(
        .opened(ConnectionID(4), peer: "10.0.0.9")
      ).first
    else {
      Issue.record("a peer past its failures was admitted")
      return
    }
    #expect(peer == "10.0.0.9")
    #expect(reason.contains("3 failed handshakes from 10.0.0.9"))
    #expect(log)
    // Further refusals are logged at the 2nd, 4th, 8th…: a flood does not flood the log.
    let logged = (5...20).map { id -> Bool in
      guard
        case .refuse(_, _, _, let log) = machine.handle(
          .opened(ConnectionID(UInt64(id)), peer: "10.0.0.9")
        ).first
      else { return false }
      return log
    }
    #expect(logged.count { $0 } == 4)  // the 2nd, 4th, 8th and 16th
    // Another address is not affected; an expired failure lets the peer in again.
    #expect(
      machine.handle(.opened(ConnectionID(50), peer: "10.0.0.8")) == [.admit(ConnectionID(50))])
    _ = machine.handle(.failureExpired(peer: "10.0.0.9"))
    #expect(
      machine.handle(.opened(ConnectionID(60), peer: "10.0.0.9")) == [.admit(ConnectionID(60))])
  }

  @Test func pendingHandshakesAreBoundedAndAuthenticatedOnesDoNotCount() {
    var machine = ClusterAdmissionStateMachine(configuration: .init(maxPendingHandshakes: 2))
    #expect(machine.handle(.opened(ConnectionID(1), peer: "a")) == [.admit(ConnectionID(1))])
    #expect(machine.handle(.opened(ConnectionID(2), peer: "a")) == [.admit(ConnectionID(2))])
    if case .refuse = machine.handle(.opened(ConnectionID(3), peer: "b")).first {
    } else {
      Issue.record("a third pending handshake was admitted")
    }
    _ = machine.handle(.authenticated(ConnectionID(1)))
    #expect(machine.handle(.closed(ConnectionID(1))) == [])
    #expect(machine.failureCount(of: "a") == 0)
    #expect(machine.handle(.opened(ConnectionID(4), peer: "b")) == [.admit(ConnectionID(4))])
  }
}

@Suite struct MessageCountTests {
  @Test func aFrameOfMillionsOfTinyMessagesIsRefusedBeforeDecodingThem() {
    let count = 1 << 20
    var body: [UInt8] = [0x53, 0x46]
    var value = UInt64(count)
    while value >= 0x80 {
      body.append(UInt8(truncatingIfNeeded: value) | 0x80)
      value >>= 7
    }
    body.append(UInt8(value))
    body += [UInt8](repeating: 8, count: count)  // `drain`, one byte each
    do {
      _ = try ClusterWireFormat.decodeBody(
        body, maxMessages: ClusterWireFormat.maxMessagesFromWorker)
      Issue.record("accepted \(count) messages")
    } catch {
      #expect(error.code == .malformedFrame)
      #expect(error.message.contains("more than the 4096 allowed"))
    }
    // Without the cap (a worker reading its scheduler), the same frame decodes.
    #expect((try? ClusterWireFormat.decodeBody(body))?.count == count)
  }
}
