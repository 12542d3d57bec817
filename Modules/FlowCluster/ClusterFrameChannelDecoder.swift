import FlowClusterProtocol
import NIOCore

/// Splits the byte stream into frames and decodes them; an oversized, malformed or truncated
/// frame is an error (the connection's handler closes it with the reason).
///
/// On the scheduler's side a connection starts unauthenticated: its first frame may be at most
/// ``ClusterWireFormat/maxHandshakeFrameSize`` bytes and must be one hello, whose version and
/// token are checked before anything else in it is decoded. Only a peer whose hello passed
/// may send frames up to `maxFrameSize`; after a refused hello the rest is discarded unread.
struct ClusterFrameChannelDecoder: ByteToMessageDecoder {
  typealias InboundOut = [ClusterMessage]
  let maxFrameSize: Int
  /// Before the handshake: the token the scheduler expects (nil: any).
  private let handshakeToken: String?
  /// True on the scheduler's side.
  private let checksHandshake: Bool
  private var phase: Phase

  private enum Phase { case handshake, authenticated, refused }

  /// A decoder for a worker's side: frames from the scheduler up to `maxFrameSize`.
  init(maxFrameSize: Int) {
    self.maxFrameSize = maxFrameSize
    self.handshakeToken = nil
    self.checksHandshake = false
    self.phase = .authenticated
  }

  /// A decoder for the scheduler's side: a small hello first, checked against `token`.
  init(maxFrameSize: Int, handshakeToken: String?) {
    self.maxFrameSize = maxFrameSize
    self.handshakeToken = handshakeToken
    self.checksHandshake = true
    self.phase = .handshake
  }

  /// The most bytes one authenticated connection may make its handler buffer.
  static func bufferLimit(maxFrameSize: Int) -> Int {
    ClusterWireFormat.prefixSize + max(maxFrameSize, ClusterWireFormat.maxHandshakeFrameSize)
  }

  mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws
    -> DecodingState
  {
    if phase == .refused {
      buffer.moveReaderIndex(to: buffer.writerIndex)
      return .needMoreData
    }
    guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else {
      return .needMoreData
    }
    if let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
      let second = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self),
      (0x14...0x17).contains(first), second == 0x03
    {
      throw ClusterProtocolError(
        .malformedFrame,
        "the peer speaks TLS and this side does not: give both sides the same TLS settings "
          + "(the scheduler a certificate and key, workers --tls-trust-roots)")
    }
    if phase == .handshake, length > ClusterWireFormat.maxHandshakeFrameSize {
      throw ClusterProtocolError(
        .oversizedFrame,
        "a first frame of \(length) bytes exceeds the \(ClusterWireFormat.maxHandshakeFrameSize) "
          + "bytes allowed before the handshake (a hello is far smaller)")
    }
    guard length <= maxFrameSize else {
      throw ClusterProtocolError(
        .oversizedFrame,
        "a frame of \(length) bytes exceeds the limit of \(maxFrameSize) bytes; send smaller "
          + "task inputs and outputs (persist big values in a result store)")
    }
    guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
    buffer.moveReaderIndex(forwardBy: 4)
    let body = buffer.readBytes(length: Int(length))!
    if phase == .handshake {
      let (hello, accepted) = try ClusterWireFormat.decodeHandshake(body, token: handshakeToken)
      phase = accepted ? .authenticated : .refused
      if !accepted { buffer.moveReaderIndex(to: buffer.writerIndex) }
      context.fireChannelRead(wrapInboundOut([.hello(hello)]))
      return accepted ? .continue : .needMoreData
    }
    // On the scheduler's side (which began with a handshake), a worker's frames hold a handful
    // of messages.
    let messages = try ClusterWireFormat.decodeBody(
      body,
      maxMessages: checksHandshake ? ClusterWireFormat.maxMessagesFromWorker : .max)
    context.fireChannelRead(wrapInboundOut(messages))
    return .continue
  }

  mutating func decodeLast(
    context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
  ) throws -> DecodingState {
    while try decode(context: context, buffer: &buffer) == .continue {}
    if buffer.readableBytes > 0 {
      let left = buffer.readableBytes
      buffer.clear()
      throw ClusterProtocolError(
        .truncated, "the connection closed in the middle of a frame (\(left) bytes left)")
    }
    return .needMoreData
  }
}

extension Duration {
  var timeAmount: TimeAmount {
    let (seconds, attoseconds) = components
    return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
  }
}
